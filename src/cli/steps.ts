/**
 * How a command runs the run steps of a spec: under runc, each step's output on stderr.
 */
import type { StepRunner } from "../build/index.ts";
import { createStepRunner } from "../run/index.ts";
import type { Store } from "../store/index.ts";
import type { Io } from "./io.ts";

/** The step runner of a command: a step's output goes to stderr, prefixed with its name. */
export const stepRunnerFor = (store: Store, io: Io): StepRunner =>
  createStepRunner({
    store,
    env: io.env,
    // On a terminal the step's latest line stands in one status line (its last lines are
    // printed anyway if it fails); in logs every line is kept, prefixed.
    onLine: (step, line) => (io.isTTY && io.status !== undefined ? io.status(`${step} | ${line}`) : io.err(`${step} | ${line}`)),
    onDropped: (step, paths) => io.err(`step ${step}: left out of its layer (not a file, directory or link): ${paths.join(", ")}`),
  });
