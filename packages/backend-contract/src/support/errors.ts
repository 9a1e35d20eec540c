/**
 * Awaits a promise that must reject and returns its rejection, so a test can assert on the
 * error's class, code and message. Fails the test when the promise resolves.
 */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
