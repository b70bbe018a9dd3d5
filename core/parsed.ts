/**
 * The outcome of parsing what a user typed or a file holds, for pure
 * parsers anywhere in the tree (addresses, ports, key files): a value, or
 * one line saying what is wrong, to which the caller adds what was parsed
 * (the option, the file name).
 *
 * @module
 */

/** A value, or a one-line reason without the name of the thing parsed. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
