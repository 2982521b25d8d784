import Foundation
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `orgmatrix ledger seal`, and the sealer's crash: killed with SIGKILL while a block's database
/// transaction is open, it leaves whole blocks only, loses no committed transaction, and the next
/// sealer goes on from the last whole block to a ledger that verifies clean.
@Suite struct LedgerSealCommandTests {
    @Test func aSealerKilledMidBlockLeavesWholeBlocksAndTheNextOneFinishes() async throws {
        let fixture = try await TenantFixture.create(label: "seal-crash", ledger: TenantFixture.ledger)
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared()
        // Key rotations of the client-held WH-B: each a key.registered transaction HQ commits.
        try await withClient(environment.ownerURL, maximumConnections: 1) { client in
            let admin = KeyAdmin(client: client, logger: testLogger, masterKey: masterKey.key)
            for _ in 0..<40 {
                _ = try await admin.register(
                    tenant: fixture.code, org: try OrgCode("WH-B"), publicKeyPEM: SM2PrivateKey.generate().publicKey.pemRepresentation)
            }
        }
        let tenant = fixture.tenantID.rawValue
        let committed = try await withConnection(environment.ownerURL) { connection in
            try await connection.query("SELECT count(*)::int FROM ledger_commits WHERE tenant_id = \(tenant)", logger: testLogger)
                .collect().first!.decode(Int.self)
        }
        #expect(committed > 40)
        let seal = ["ledger", "seal", "--tenant", fixture.code.rawValue, "--block-transactions", "1", "--database-url", environment.appURLText]

        // One block per transaction. Once two blocks are sealed the test takes the lock the block
        // trigger takes, so the sealer's next block waits inside its open transaction; SIGKILL then
        // is mid-block by construction, however fast or loaded the machine. The watching
        // connection opens before the sealer starts, so a slow connect cannot miss the window.
        let blocksLock = tenant.uuidString.lowercased() + " blocks"
        let sealerLock = tenant.uuidString.lowercased() + " sealer"
        let (killedMidBlock, sealer) = try await withConnection(environment.ownerURL) { connection -> (Bool, SpawnedProcess) in
            let sealer = try SpawnedProcess(TestEnvironment.orgmatrixExecutable, seal, environment: masterKey.environment)
            func state() async throws -> (blocks: Int, sealing: Bool, waitingForBlock: Bool) {
                try await connection.query(
                    """
                    SELECT (SELECT count(*)::int FROM ledger_blocks WHERE tenant_id = \(tenant)),
                        EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
                            AND ((classid::bigint << 32) | objid::bigint) = hashtextextended(\(sealerLock), 1237)),
                        EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                            AND ((classid::bigint << 32) | objid::bigint) = hashtextextended(\(blocksLock), 1237))
                    """, logger: testLogger
                ).collect().first!.decode((Int, Bool, Bool).self)
            }
            let deadline = ContinuousClock.now + .seconds(120)
            var holdingBlocks = false
            while ContinuousClock.now < deadline {
                let now = try await state()
                if !holdingBlocks {
                    if now.blocks == committed { return (false, sealer) }
                    if now.blocks >= 2 {
                        try await connection.query("SELECT pg_advisory_lock(hashtextextended(\(blocksLock), 1237))", logger: testLogger)
                        holdingBlocks = true
                    }
                } else if now.sealing && now.waitingForBlock {
                    sealer.kill(SIGKILL)
                    try await connection.query("SELECT pg_advisory_unlock(hashtextextended(\(blocksLock), 1237))", logger: testLogger)
                    return (true, sealer)
                }
                try await Task.sleep(for: .milliseconds(1))
            }
            sealer.kill(SIGKILL)
            return (false, sealer)
        }
        let crashed = sealer.wait()
        #expect(killedMidBlock, "the sealer finished before it could be killed mid-block")
        #expect(crashed.status == 128 + SIGKILL, "\(crashed.standardError)")

        // Whole blocks only: numbered from 0, each with its tx_count of entries, the log contiguous.
        let owner = environment.ownerURL
        func sealedState() async throws -> (blocks: [Int64], transactions: Int, entriesPerBlockMatch: Bool, logContiguous: Bool) {
            try await withConnection(owner) { connection in
                let numbers = try await connection.query(
                    "SELECT number FROM ledger_blocks WHERE tenant_id = \(tenant) ORDER BY number", logger: testLogger
                ).collect().map { try $0.decode(Int64.self) }
                let (entries, match, contiguous) = try await connection.query(
                    """
                    SELECT (SELECT count(*)::int FROM ledger_block_entries WHERE tenant_id = \(tenant)),
                        NOT EXISTS (SELECT 1 FROM ledger_blocks b WHERE b.tenant_id = \(tenant)
                            AND b.tx_count <> (SELECT count(*) FROM ledger_block_entries e WHERE e.tenant_id = b.tenant_id AND e.block_number = b.number)),
                        (SELECT coalesce(max(log_index) + 1, 0) = count(*) FROM ledger_block_entries WHERE tenant_id = \(tenant))
                    """, logger: testLogger
                ).collect().first!.decode((Int, Bool, Bool).self)
                return (numbers, entries, match, contiguous)
            }
        }
        let afterCrash = try await sealedState()
        #expect(afterCrash.blocks == (0..<Int64(afterCrash.blocks.count)).map { $0 })
        #expect(afterCrash.blocks.count >= 2 && afterCrash.transactions < committed, "\(afterCrash)")
        #expect(afterCrash.entriesPerBlockMatch && afterCrash.logContiguous)

        // The killed backend's transaction ends when PostgreSQL notices; until then its lock makes
        // the next sealer skip the tenant, so seal until nothing waits.
        var resumedTransactions = 0
        for _ in 0..<100 where afterCrash.transactions + resumedTransactions < committed {
            let resumed = try runProcess(TestEnvironment.orgmatrixExecutable, seal, environment: masterKey.environment)
            #expect(resumed.status == 0, "\(resumed.standardError)")
            if let count = resumed.text.firstMatch(of: /of (\d+) transactions/).flatMap({ Int($0.1) }) { resumedTransactions += count }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(afterCrash.transactions + resumedTransactions == committed)
        let finished = try await sealedState()
        #expect(finished.transactions == committed && finished.blocks.count == committed)
        #expect(finished.entriesPerBlockMatch && finished.logContiguous)
        let again = try runProcess(TestEnvironment.orgmatrixExecutable, seal, environment: masterKey.environment)
        #expect(again.status == 0 && again.text == "nothing to seal\n", "\(again.text)\(again.standardError)")

        let verified = try runProcess(
            TestEnvironment.orgmatrixExecutable,
            ["ledger", "verify", "--tenant", fixture.code.rawValue, "--database-url", environment.appURLText],
            environment: ["ORGMATRIX_API_KEY": fixture.key("hq-auditor")])
        #expect(verified.status == 0 && verified.text.hasPrefix("ledger of tenant \(fixture.code.rawValue): clean\n"), "\(verified.text)")
    }

    @Test func sealingNeedsTheMasterKeyAndAValidBlockSize() async throws {
        let environment = try await SharedDatabase.environment()
        let withoutKey = try runProcess(
            TestEnvironment.orgmatrixExecutable, ["ledger", "seal", "--database-url", environment.appURLText],
            environment: ["ORGMATRIX_MASTER_KEY_FILE": ""])
        #expect(withoutKey.status == 2 && withoutKey.standardError.contains("ORGMATRIX_MASTER_KEY_FILE is not set"), "\(withoutKey.standardError)")
        let badSize = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "seal", "--block-transactions", "0"])
        #expect(badSize.status != 0 && badSize.standardError.contains("--block-transactions must be 1–10000"), "\(badSize.standardError)")
        let badTenant = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "seal", "--tenant", "Not A Code!"])
        #expect(badTenant.status != 0 && badTenant.standardError.contains("--tenant"), "\(badTenant.standardError)")
    }
}
