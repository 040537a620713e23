/**
 * Sizes and modes as people read them, shared by every text rendering.
 */

/**
 * A byte count in decimal units (`1.2 MB`, `-4 B`).
 *
 * @category destructors
 */
export const formatSize = (n: number): string => {
  const abs = Math.abs(n);
  if (abs < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = abs;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${n < 0 ? "-" : ""}${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
};

/**
 * Permission bits as four octal digits (`0644`).
 *
 * @category destructors
 */
export const formatMode = (mode: number): string => mode.toString(8).padStart(4, "0");
