/**
 * The control words shared by the main thread and the archive worker (an Int32Array over
 * a SharedArrayBuffer). In a module of their own so that the main thread, which needs
 * only these, does not load the worker's modules (the walk, the tar encoder, tar-stream).
 */
/** Ring slots being filled or not yet released by the main thread. */
export const USED = 0;
/** Set to 1 to stop the worker. */
export const ABORT = 1;
