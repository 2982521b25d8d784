import Foundation
import Logging
import OrgMatrixCore
import OrgMatrixStore
import ServiceLifecycle

/// The block sealer inside `serve`: every `pollInterval` it seals what is due (Store's
/// `sealDueBlocks`: per tenant, elected by an advisory lock, one block per database
/// transaction), then closes the quarter that ended last for every tenant that has no
/// checkpoint for it (`cutDueCheckpoints`). A failed pass is logged and retried on the next;
/// graceful shutdown ends the loop between passes, so a block is sealed whole or not at all.
struct SealerService: Service {
    let database: Database
    let masterKey: MasterKey
    let rule: SealingRule
    let pollInterval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    _ = try await database.sealDueBlocks(rule: rule, masterKey: masterKey, logger: logger)
                    let now = UTCMicros(microsecondsSinceEpoch: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
                    _ = try await database.cutDueCheckpoints(now: now, logger: logger)
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("sealing failed; retrying on the next pass", metadata: ["error": "\(String(reflecting: error).prefix(500))"])
                }
                do { try await Task.sleep(for: pollInterval) } catch { return }
            }
        }
    }
}
