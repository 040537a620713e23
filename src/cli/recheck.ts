/**
 * `lading build --check`: every run step of a built image runs again on the same layers
 * below it, ignoring the cache, and any whose layer comes out different is reported with
 * the files that differ, rendered as `lading diff` renders them. Whether a command is
 * reproducible is its own business; this makes it visible, as Nix's `--check` does.
 */
import type { StepRunner } from "../build/index.ts";
import type { PlanInputs, BuildPlan } from "../plan/index.ts";
import type { ImageView } from "../diff/index.ts";
import { diffImages, renderText } from "../diff/index.ts";
import type { Image, Layer } from "../oci/index.ts";
import { inspectLayers } from "../sink/index.ts";
import { storedLayer } from "../store/index.ts";
import type { Store } from "../store/index.ts";
import { DiagnosticError } from "../core/index.ts";

/**
 * One step run again: whether it gave the same layer, and if not, how it differs.
 *
 * @category model
 */
export interface StepCheck {
  readonly step: string;
  readonly same: boolean;
  /** `lading diff`'s text rendering of the two layers, when they differ. */
  readonly report?: string;
}

const viewOf = async (step: string, source: string, layer: Layer): Promise<ImageView> => {
  const inspection = await inspectLayers(source, [layer]);
  if (inspection.problems.length > 0) throw new DiagnosticError(inspection.problems);
  const l = inspection.layers[0]!;
  return { source, kind: "image", platform: "", config: {}, annotations: {}, layers: [{ name: step, key: l.diffId, size: l.files.reduce((n, f) => n + (f.type === "file" ? f.size : 0), 0), files: l.files }] };
};

/**
 * Runs every step of `plan` again on the layers `image` has below it.
 *
 * @category destructors
 */
export const recheckSteps = async (store: Store, plan: BuildPlan, inputs: PlanInputs, image: Image, runStep: StepRunner): Promise<ReadonlyArray<StepCheck>> => {
  const offset = image.layers.length - plan.layers.length;
  const checks: StepCheck[] = [];
  for (const [i, layer] of plan.layers.entries()) {
    const run = layer.run;
    if (run === undefined) continue;
    const built = image.layers[offset + i]!;
    const again = await runStep({ plan, layer: { ...layer, run }, below: image.layers.slice(0, offset + i), inputs });
    if (again.diffId === built.diffId) {
      checks.push({ step: layer.name, same: true });
      continue;
    }
    const before = await viewOf(layer.name, `step ${layer.name}, as built`, built);
    const after = await viewOf(layer.name, `step ${layer.name}, run again`, storedLayer(store, { ...again, mediaType: built.mediaType }, again.diffId));
    checks.push({ step: layer.name, same: false, report: renderText(diffImages(before, after), { stat: false, color: false }) });
  }
  return checks;
};
