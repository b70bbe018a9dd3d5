/**
 * The edit distance the command line and the config file use to suggest a
 * known word for a mistyped one ("did you mean ...").
 *
 * @module
 */

/** Edit distance (Levenshtein) between `a` and `b`: the fewest insertions,
 * deletions and substitutions of one UTF-16 unit that make `a` into `b`.
 * Time and memory grow with `a.length × b.length`: for short words. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
