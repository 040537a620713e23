export { createStepRunner, cacheDir } from "./step.ts";
export type { StepRunnerOptions } from "./step.ts";
export { SANDBOX_VERSION, withSandbox } from "./sandbox.ts";
export type { SandboxExit, SandboxMount } from "./sandbox.ts";
export { lowersOf, unpackLower } from "./unpack.ts";
export { layerFromUpper } from "./upper.ts";
export { loadSeccomp } from "./seccomp.ts";
export { takeFromImage } from "./take.ts";
