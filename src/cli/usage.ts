/**
 * How a command ends: its exit codes, and the error that means the command line itself
 * was wrong.
 */

/**
 * Exit codes, documented in the README.
 *
 * @category model
 */
export const EXIT = { ok: 0, errors: 1, usage: 2, internal: 70 } as const;

/**
 * A mistake on the command line: printed as `lading COMMAND: MESSAGE`, exit 2.
 *
 * @category model
 */
export class UsageError extends Error {}
