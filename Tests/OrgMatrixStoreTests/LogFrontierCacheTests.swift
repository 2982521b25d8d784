import Foundation
import OrgMatrixCore
import SMCrypto
import Testing

@testable import OrgMatrixStore

/// The sealer's cached log: used only while it gives exactly the last block's signed log size
/// and root, so a block another node sealed since, or a header that disagrees, is a miss.
@Suite struct LogFrontierCacheTests {
    static let tenant = TenantID(UUID())

    static func sealed(_ count: Int, after previous: BlockHeader? = nil, log: inout MerkleFrontier) -> BlockHeader {
        let transactions = (0..<count).map { _ in try! LedgerHash(SM3.hash(SMCrypto.randomBytes(16))) }
        return try! BlockHeader.seal(
            tenant: try! TenantCode("cache"), after: previous, transactions: transactions, log: &log,
            sealedAt: UTCMicros(microsecondsSinceEpoch: 1_764_645_577_000_000))
    }

    @Test func aCachedLogServesOnlyTheBlockItEndsWith() throws {
        let cache = LogFrontiers()
        var log = MerkleFrontier()
        let first = Self.sealed(3, log: &log)
        #expect(cache.frontier(Self.tenant, following: first) == nil)
        cache.keep(log, for: Self.tenant)
        #expect(cache.frontier(Self.tenant, following: first)?.rootHash == first.logRoot.bytes)
        #expect(cache.frontier(TenantID(UUID()), following: first) == nil)

        // Another node sealed the next block: this process's log is behind it.
        var theirs = log
        let second = Self.sealed(2, after: first, log: &theirs)
        #expect(cache.frontier(Self.tenant, following: second) == nil)
        // Same size, another root: not the log this header signs.
        let forged = BlockHeader(
            tenant: first.tenant, number: first.number, previousHash: first.previousHash, dataHash: first.dataHash,
            transactionCount: first.transactionCount, logSize: first.logSize, logRoot: second.logRoot, sealedAt: first.sealedAt)
        #expect(cache.frontier(Self.tenant, following: forged) == nil)
    }
}
