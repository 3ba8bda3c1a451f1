// Awaiting a call the test expects to fail.
import assert from "node:assert/strict";

import { FacebankError } from "../src/index.js";

/** The FacebankError `promise` rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<FacebankError> {
  const error = await promise.then(
    () => assert.fail("the call was expected to fail"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof FacebankError, `not a FacebankError: ${String(error)}`);
  return error;
}
