/**
 * Flat copies of strings that are kept for long. A string made by concatenation is a
 * rope (two pointers and a header) that V8 flattens the first time it is hashed or
 * compared, keeping both the rope and the flat copy: for the paths and digests of a
 * plan of 200,000 files, tens of megabytes held twice.
 */

/** Below this length V8 concatenates into a flat string already. */
const ROPE_MIN = 13;

/**
 * The same string, held as one flat sequence of characters. A string with an unpaired
 * surrogate (which UTF-8 cannot carry) is returned as it is.
 *
 * @category constructors
 */
export const flatString = (s: string): string => {
  if (s.length < ROPE_MIN) return s;
  const copy = Buffer.from(s, "utf8").toString("utf8");
  return copy === s ? copy : s;
};
