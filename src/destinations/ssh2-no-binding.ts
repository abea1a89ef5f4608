/**
 * ssh2 without its native crypto binding. ssh2 builds `sshcrypto.node` at `npm ci` where a C++
 * toolchain is, and uses it when it loads. Built with Node 24.19's or a later 24.x's headers it
 * aborts the whole process when V8 collects one of its cipher objects (node::ObjectWrap's new
 * cleanup hook runs in a GC callback without an environment: "Assertion failed: (env) !=
 * nullptr" from AESGCMDecipher::~AESGCMDecipher, mscdex/ssh2#1511): a daemon would die at some
 * garbage collection after its first SFTP connection closed. Seen here in the suite once the
 * binding was built for this Node. This resolve hook (node:module registerHooks, for require as
 * for import) makes ssh2's require of the binding fail as if it were not built, and ssh2 uses
 * its JavaScript ciphers (Node's OpenSSL through node:crypto), as it does in the image's bundle,
 * which never carries the binding. Imported by sftp.ts before ssh2, so it is in place when
 * ssh2's crypto module loads.
 */
import { registerHooks, type ResolveHookContext, type ResolveFnOutput } from 'node:module';

/** ssh2's require of its binding (lib/protocol/crypto.js; the bundle keeps the specifier). */
const SSH2_BINDING = './crypto/build/Release/sshcrypto.node';

function refuseSsh2Binding(
  specifier: string,
  context: ResolveHookContext,
  next: (specifier: string, context?: Partial<ResolveHookContext>) => ResolveFnOutput,
): ResolveFnOutput {
  if (specifier === SSH2_BINDING) {
    throw Object.assign(new Error(`Cannot find module '${specifier}' (offsite does not load ssh2's native binding: mscdex/ssh2#1511)`), {
      code: 'MODULE_NOT_FOUND',
    });
  }
  return next(specifier, context);
}

registerHooks({ resolve: refuseSsh2Binding });
