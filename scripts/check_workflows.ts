/**
 * Validates GitHub workflow files against the published workflow schema with
 * `@action-validator/core` (the WebAssembly build of action-validator, from
 * npm; the schema is inside it, so it runs offline once cached). Part of
 * `deno task check`:
 *
 *     deno run --no-config --frozen --lock=scripts/check_workflows.lock --allow-read \
 *       scripts/check_workflows.ts [FILE...]
 *
 * Without FILE, every .yml and .yaml file in .github/workflows. Prints one line
 * per problem (file, where, what) and exits 1 when there is any; 0 and one
 * summary line otherwise.
 *
 * @module
 */

import { validateWorkflow, type ValidationError } from "npm:@action-validator/core@0.6.0";

const WORKFLOWS = new URL("../.github/workflows/", import.meta.url);

/** The problems action-validator finds in `source`, one line each. */
export function workflowProblems(file: string, source: string): string[] {
  return validateWorkflow(source).errors.map((e: ValidationError) => {
    const where = "path" in e ? ` at ${e.path}` : "location" in e && e.location ? `:${e.location.line}` : "";
    return `${file}${where}: ${e.title}${e.detail ? ` (${e.detail})` : ""}`;
  });
}

function defaultFiles(): string[] {
  return [...Deno.readDirSync(WORKFLOWS)]
    .filter((e) => e.isFile && /\.ya?ml$/.test(e.name))
    .map((e) => new URL(e.name, WORKFLOWS).pathname)
    .sort();
}

if (import.meta.main) {
  const files = Deno.args.length > 0 ? Deno.args : defaultFiles();
  if (files.length === 0) {
    console.error("check_workflows: no workflow files in .github/workflows");
    Deno.exit(1);
  }
  const problems = files.flatMap((f) => workflowProblems(f, Deno.readTextFileSync(f)));
  for (const p of problems) console.error(p);
  if (problems.length > 0) Deno.exit(1);
  console.log(`check_workflows: ${files.length} workflow files valid`);
}
