/**
 * `lading plan --json` as tests read it: decoded by the plan's codec, so a test that
 * reads a plan also checks that the plan is one.
 */
import * as E from "fp-ts/lib/Either.js";
import { formatDiagnostic } from "../../src/core/index.ts";
import type { BuildPlan } from "../../src/plan/index.ts";
import { decodePlan } from "../../src/plan/index.ts";

/** The plan `lading plan --json` printed; throws with the codec's diagnostic if it is not one. */
export const decodedPlan = (stdout: string): BuildPlan => {
  const r = decodePlan(stdout, "lading plan --json");
  if (E.isLeft(r)) throw new Error(formatDiagnostic(r.left));
  return r.right;
};
