/**
 * The bill of lading: an SPDX 2.3 JSON document of what an image holds, made from its
 * plan, so it exists before anything is built. It lists the image, its base image by
 * digest, every Debian package (version, package URL, the `.deb`'s sha256, and the
 * licenses its machine-readable copyright file declares), and every host file copied in,
 * with its sha256. Deterministic: the same plan gives the same document.
 */
import type { Digest } from "../core/index.ts";
import { canonicalJson, digestHex, digestOf } from "../core/index.ts";
import type { BuildPlan, PlannedEntry, PlannedPackage } from "../plan/index.ts";

/**
 * What an SBOM reads besides the plan: the text of a package's copyright file, when
 * it has one.
 *
 * @category model
 */
export type CopyrightReader = (pkg: PlannedPackage, file: Digest) => string | undefined;

/** Debian's short license names (DEP-5) to SPDX identifiers, for the common ones. */
const SPDX_NAMES: Readonly<Record<string, string>> = {
  "GPL-1+": "GPL-1.0-or-later", "GPL-2": "GPL-2.0-only", "GPL-2+": "GPL-2.0-or-later", "GPL-3": "GPL-3.0-only", "GPL-3+": "GPL-3.0-or-later",
  "LGPL-2": "LGPL-2.0-only", "LGPL-2+": "LGPL-2.0-or-later", "LGPL-2.1": "LGPL-2.1-only", "LGPL-2.1+": "LGPL-2.1-or-later", "LGPL-3": "LGPL-3.0-only", "LGPL-3+": "LGPL-3.0-or-later",
  "AGPL-3": "AGPL-3.0-only", "AGPL-3+": "AGPL-3.0-or-later", "GFDL-1.3+": "GFDL-1.3-or-later",
  "Apache-2.0": "Apache-2.0", "Apache-2": "Apache-2.0", "MIT": "MIT", "Expat": "MIT", "ISC": "ISC", "Zlib": "Zlib", "zlib": "Zlib",
  "BSD-2-clause": "BSD-2-Clause", "BSD-3-clause": "BSD-3-Clause", "BSD-4-clause": "BSD-4-Clause", "BSD-2-Clause": "BSD-2-Clause", "BSD-3-Clause": "BSD-3-Clause",
  "MPL-2.0": "MPL-2.0", "PSF-2": "PSF-2.0", "Python-2.0": "Python-2.0", "Artistic": "Artistic-1.0-Perl", "Artistic-2.0": "Artistic-2.0",
  "public-domain": "LicenseRef-public-domain", "PostgreSQL": "PostgreSQL", "OpenSSL": "OpenSSL", "curl": "curl", "BSL-1.0": "BSL-1.0", "CC0-1.0": "CC0-1.0",
};

const DEP5 = /^Format:\s*https?:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/?\s*$/m;

/**
 * The licenses a machine-readable (DEP-5) copyright file declares, as an SPDX
 * expression (`A AND B`), or undefined when the file is not machine-readable.
 *
 * @category destructors
 */
export const declaredLicenses = (copyright: string): string | undefined => {
  if (!DEP5.test(copyright)) return undefined;
  const ids = new Set<string>();
  for (const m of copyright.matchAll(/^License:[ \t]*(\S[^\n]*)$/gm)) {
    for (const name of m[1]!.split(/\s+(?:or|and|\|)\s+|\s*,\s*/i)) {
      const clean = name.trim().replace(/\s+with\s+.*$/i, "");
      if (clean === "") continue;
      ids.add(SPDX_NAMES[clean] ?? `LicenseRef-${clean.replace(/[^A-Za-z0-9.-]/g, "-")}`);
    }
  }
  return ids.size === 0 ? undefined : [...ids].sort().join(" AND ");
};

/**
 * The package URL of a Debian package, `pkg:deb/debian/NAME@VERSION?arch=ARCH`.
 *
 * @category destructors
 */
export const debianPurl = (p: Pick<PlannedPackage, "name" | "version" | "architecture">): string =>
  `pkg:deb/debian/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${encodeURIComponent(p.architecture)}`;

const spdxId = (kind: string, name: string): string => `SPDXRef-${kind}-${name.replace(/[^A-Za-z0-9.-]/g, "-")}`;

/**
 * The SPDX 2.3 document of a plan, as a JSON value.
 *
 * @category constructors
 */
export const spdxDocument = (plan: BuildPlan, copyright: CopyrightReader, tool = "lading"): Record<string, unknown> => {
  const image = "SPDXRef-Image";
  const packages: Record<string, unknown>[] = [
    {
      SPDXID: image,
      name: plan.exportName,
      downloadLocation: "NOASSERTION",
      filesAnalyzed: false,
      primaryPackagePurpose: "CONTAINER",
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      copyrightText: "NOASSERTION",
    },
  ];
  const relationships: Record<string, unknown>[] = [{ spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: image }];
  if (plan.base !== undefined) {
    const [repo] = plan.base.reference.split(/[:@](?=[^/]*$)/);
    const id = spdxId("Base", plan.base.reference);
    packages.push({
      SPDXID: id,
      name: plan.base.reference,
      versionInfo: plan.base.digest,
      downloadLocation: "NOASSERTION",
      filesAnalyzed: false,
      primaryPackagePurpose: "CONTAINER",
      checksums: [{ algorithm: "SHA256", checksumValue: digestHex(plan.base.digest) }],
      externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: `pkg:oci/${encodeURIComponent((repo ?? "").split("/").at(-1) ?? "")}@${encodeURIComponent(plan.base.digest)}?repository_url=${encodeURIComponent(repo ?? "")}` }],
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      copyrightText: "NOASSERTION",
    });
    relationships.push({ spdxElementId: image, relationshipType: "DESCENDANT_OF", relatedSpdxElement: id });
  }
  const files: Record<string, unknown>[] = [];
  for (const layer of plan.layers) {
    // The packages' copyright files, found in one pass over the layer's entries.
    const docs = new Map<string, PlannedEntry>();
    if ((layer.packages ?? []).length > 0) for (const e of layer.entries) if (e.path.startsWith("/usr/share/doc/") && e.path.endsWith("/copyright")) docs.set(e.path, e);
    for (const p of layer.packages ?? []) {
      const id = spdxId("Package", `${p.name}-${p.architecture}${p.installed ? "" : "-files"}`);
      if (packages.some((x) => x["SPDXID"] === id)) continue;
      const doc = docs.get(`/usr/share/doc/${p.name}/copyright`);
      const text = doc?.type === "file" ? copyright(p, doc.digest) : undefined;
      packages.push({
        SPDXID: id,
        name: p.name,
        versionInfo: p.version,
        ...(p.source === p.name ? {} : { sourceInfo: `built from the source package ${p.source}` }),
        supplier: "Organization: Debian",
        downloadLocation: "NOASSERTION",
        filesAnalyzed: false,
        checksums: [{ algorithm: "SHA256", checksumValue: digestHex(p.sha256) }],
        externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: debianPurl(p) }],
        licenseConcluded: "NOASSERTION",
        licenseDeclared: (text === undefined ? undefined : declaredLicenses(text)) ?? "NOASSERTION",
        copyrightText: "NOASSERTION",
      });
      relationships.push({ spdxElementId: image, relationshipType: "CONTAINS", relatedSpdxElement: id });
    }
    for (const e of layer.entries) {
      if (e.type !== "file" || e.source === undefined || e.source === "inline" || e.source.startsWith("deb:")) continue;
      const id = spdxId("File", `${layer.name}${e.path}`);
      files.push({ SPDXID: id, fileName: e.path, checksums: [{ algorithm: "SHA256", checksumValue: digestHex(e.digest) }], licenseConcluded: "NOASSERTION", copyrightText: "NOASSERTION", comment: `layer ${layer.name}, from ${/^(tar|url):/.test(e.source) ? `the archive or download ${e.source.slice(4)}` : `the host file ${e.source}`}` });
      relationships.push({ spdxElementId: image, relationshipType: "CONTAINS", relatedSpdxElement: id });
    }
  }
  const body = { packages, files, relationships };
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: `lading image ${plan.exportName}`,
    // From the content, so the same plan always gives the same document.
    documentNamespace: `https://spdx.org/spdxdocs/lading-${plan.exportName}-${digestHex(digestOf(canonicalJson(body)))}`,
    creationInfo: { created: new Date(plan.created * 1000).toISOString().replace(/\.000Z$/, "Z"), creators: [`Tool: ${tool}`] },
    documentDescribes: [image],
    ...body,
  };
};
