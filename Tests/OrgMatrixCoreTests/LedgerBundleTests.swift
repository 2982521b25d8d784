import OrgMatrixCore
import SMCrypto
import Testing

/// The bundle's small files and its reader (docs/LEDGER.md, "The exported bundle"), and the
/// checkpoint check the bundle verifier runs, without I/O.
@Suite struct LedgerBundleTests {
    let tenant = try! TenantCode("dairy")
    let at = UTCMicros("2026-12-31T16:00:00.000000Z")!

    @Test func smallFilesReadBackAsWrittenAndPathsStayInsideTheBundle() throws {
        let description = LedgerBundle.Description(tenant: tenant, exportedAt: at, blocks: 3, transactions: 93, keys: 60, checkpoints: 1)
        #expect(try LedgerBundle.Description(bytes: description.bytes) == description)
        let key = LedgerEvidence.Key(
            owner: .org(try OrgCode("BJ-CW")), version: 2, custody: .client, publicKeyDER: SM2PrivateKey.generate().publicKey.derRepresentation,
            validFrom: at, revocation: .init(revokedAt: UTCMicros(microsecondsSinceEpoch: at.microsecondsSinceEpoch + 1), reason: "lost"))
        #expect(try LedgerBundle.key(bytes: LedgerBundle.keyBytes(key), publicKeyDER: key.publicKeyDER) == key)
        let hashes = (0..<3).map { SM3.hash([UInt8($0)]) }
        #expect(try LedgerBundle.hashes(lines: LedgerBundle.hashLines(hashes)) == hashes)
        #expect(try LedgerBundle.hashes(lines: []) == [])
        let rule = LedgerBundle.RuleVersion(version: "2026-01", effectiveFrom: at, transaction: .of([1]))
        #expect(try LedgerBundle.rules(bytes: LedgerBundle.rulesBytes([rule])) == [rule])

        let hash = LedgerHash.of(Array("tx".utf8))
        let place = LedgerBundle.Place(LedgerBundle.transactionFile(hash))
        #expect(place == .transaction(hash, file: "tx.json"))
        #expect(place?.directory == "transactions/\(hash.hex.prefix(2))/\(hash.hex)" && place?.file == "tx.json")
        let block = LedgerBundle.Place(LedgerBundle.ordererSignatureFile(12, keyVersion: 1))
        #expect(block == .block(12, file: "orderer.v1.sig.der"))
        #expect(block?.directory == "blocks/0000000012")
        for path in [
            "../bundle.json", "/etc/passwd", "keys//HQ.v1.pem", "keys/./HQ.v1.pem", "transactions/ab/../x", "a b", "",
            String(repeating: "a", count: 201),
        ] {
            #expect(!LedgerBundle.isBundlePath(path), "\(path)")
        }
        // A transaction directory under another prefix, or a block not zero-padded, has no place.
        let otherPrefix = hash.hex.hasPrefix("00") ? "01" : "00"
        #expect(LedgerBundle.Place("transactions/\(otherPrefix)/\(hash.hex)/tx.json") == nil)
        #expect(LedgerBundle.Place("blocks/12/header.json") == nil)
        #expect(LedgerBundle.Place("keys/HQ.v0.pem") == nil)
        #expect(LedgerBundle.signatureName("orderer.v3.sig.der")?.keyVersion == 3)
        #expect(LedgerBundle.signatureName("HQ.v1.sig") == nil)
    }

    /// Random damage to every small file and directory the reader parses (seeded, so a failure
    /// repeats): the reader never traps, and a damaged canonical file never reads as the value
    /// it held (the bytes of a canonical document are a function of its value).
    @Test func damagedFilesNeverTrapTheReaderNorReadAsTheOriginal() throws {
        var random = SeededNumbers(label: "bundle damage")
        let key = LedgerEvidence.Key(
            owner: .orderer, version: 1, custody: .custodial, publicKeyDER: SM2PrivateKey.generate().publicKey.derRepresentation,
            validFrom: at, revocation: nil)
        let description = LedgerBundle.Description(tenant: tenant, exportedAt: at, blocks: 1, transactions: 2, keys: 1, checkpoints: 0)
        let pem = Array(try SM2PublicKey(derRepresentation: key.publicKeyDER).pemRepresentation.utf8)
        let hash = LedgerHash.of([7])
        let record = LedgerBundle.recordBytes(
            .init(claimedHash: hash, canonicalBytes: [], claimedStatus: .disputed, endorsements: [], dispute: .init(org: try OrgCode("HQ"), reason: "no")))
        let lines = LedgerBundle.hashLines([hash.bytes, SM3.hash([8])])
        func damaged(_ bytes: [UInt8]) -> [UInt8] {
            var bytes = bytes
            switch random.next() % 4 {
            case 0 where !bytes.isEmpty: bytes[Int(random.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: 1 + random.next() % 255)
            case 1 where !bytes.isEmpty: bytes.removeLast(1 + Int(random.next() % UInt64(bytes.count)))
            case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: Int(random.next() % UInt64(bytes.count + 1)))
            default: bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            return bytes
        }
        for _ in 0..<3000 {
            let changedDescription = damaged(description.bytes)
            if let read = try? LedgerBundle.Description(bytes: changedDescription) {
                #expect(changedDescription == description.bytes || read != description)
            }
            let changedKey = damaged(LedgerBundle.keyBytes(key))
            if let read = try? LedgerBundle.key(bytes: changedKey, publicKeyDER: key.publicKeyDER) {
                #expect(changedKey == LedgerBundle.keyBytes(key) || read != key)
            }
            let changedLines = damaged(lines)
            if let read = try? LedgerBundle.hashes(lines: changedLines) {
                #expect(changedLines == lines || read != [hash.bytes, SM3.hash([8])])
            }
            _ = try? LedgerBundle.record(bytes: damaged(record))
            _ = try? LedgerBundle.rules(bytes: damaged(LedgerBundle.rulesBytes([.init(version: "v", effectiveFrom: at, transaction: hash)])))
            _ = try? LedgerBundle.parseManifestLine(Substring(decoding: damaged(Array("\(hash.hex)  keys/HQ.v1.pem".utf8)), as: UTF8.self))
            _ = LedgerBundle.Place(String(decoding: damaged(Array(LedgerBundle.transactionFile(hash).utf8)), as: UTF8.self))
            _ = LedgerBundle.keys(["orderer.v1.json": damaged(LedgerBundle.keyBytes(key)), "orderer.v1.pem": damaged(pem)])
            _ = LedgerBundle.transaction(hash, files: ["tx.json": damaged([1, 2]), "record.json": damaged(record), "HQ.v1.sig.der": damaged([3])])
            _ = LedgerBundle.block(0, files: ["header.json": damaged([1]), "transactions.txt": damaged(lines), "orderer.v1.sig.der": [2]])
            _ = LedgerBundle.checkpoint(0, files: ["checkpoint.json": damaged([1]), "consistency.txt": damaged(lines)])
        }
        // Whole directories read back when intact.
        let read = LedgerBundle.keys(["orderer.v1.json": LedgerBundle.keyBytes(key), "orderer.v1.pem": pem])
        #expect(read.keys == [key] && read.failures.isEmpty)
        let transaction = LedgerBundle.transaction(hash, files: ["tx.json": [1], "record.json": record, "HQ.v2.sig.der": [9]])
        #expect(transaction.failures.isEmpty && transaction.transaction?.endorsements.map(\.keyVersion) == [2])
        #expect(transaction.transaction?.claimedStatus == .disputed)
        let missing = LedgerBundle.transaction(hash, files: ["tx.json": [1]])
        #expect(missing.transaction == nil && missing.failures.map(\.field) == [LedgerBundle.recordFile(hash)])
    }

    /// A tenant's log of three blocks, two orgs' keys, checkpoints at blocks 0 and 2.
    private struct Ledger {
        let orgs: [(code: OrgCode, key: SM2PrivateKey)]
        let keys: LedgerKeyDirectory
        var headers: [BlockHeader] = []
        var leaves: [[UInt8]] = []

        init(tenant: TenantCode, blocks: [[String]], at: UTCMicros) throws {
            orgs = [(try OrgCode("BJ-CW"), SM2PrivateKey.generate()), (try OrgCode("HQ"), SM2PrivateKey.generate())]
            keys = LedgerKeyDirectory(
                orgs.map {
                    .init(
                        owner: .org($0.code), version: 1, custody: .client, publicKeyDER: $0.key.publicKey.derRepresentation,
                        validFrom: UTCMicros(microsecondsSinceEpoch: at.microsecondsSinceEpoch - 1_000_000), revocation: nil)
                })
            var log = MerkleFrontier()
            for (number, names) in blocks.enumerated() {
                let hashes = names.map { LedgerHash.of(Array($0.utf8)) }
                leaves += hashes.map { MerkleHashing.sm3.leafHash($0.bytes) }
                headers.append(
                    try BlockHeader.seal(
                        tenant: tenant, after: headers.last, transactions: hashes, log: &log,
                        sealedAt: UTCMicros(microsecondsSinceEpoch: at.microsecondsSinceEpoch - 1000 + Int64(number))))
            }
        }

        /// Checkpoint `number` at block `block`, after `previous`, signed by the orgs `signing`.
        func checkpoint(
            at moment: UTCMicros, after previous: LedgerCheckpoint?, block: Int, signing: Set<String>
        ) throws -> (LedgerCheckpoint, LedgerCheckpoint.Evidence) {
            let checkpoint = LedgerCheckpoint(
                after: previous, at: moment, period: .quarter(of: moment).previous, header: headers[block], signers: orgs.map(\.code))
            let signatures = try orgs.filter { signing.contains($0.code.rawValue) }.map {
                LedgerEvidence.Endorsement(org: $0.code, keyVersion: 1, signatureDER: try $0.key.signature(for: checkpoint.canonicalBytes).derRepresentation)
            }
            let proof = previous.map { previous in
                (try? MerkleHashing.sm3.consistencyProof(oldSize: Int(previous.logSize), leaves: Array(leaves[..<Int(checkpoint.logSize)]))) ?? []
            } ?? []
            return (
                checkpoint,
                .init(number: checkpoint.number, canonicalBytes: checkpoint.canonicalBytes, signatures: signatures, consistencyProof: proof)
            )
        }
    }

    @Test func checkpointsSignedByEveryOrgAreCompleteAndOneUnsignedIsNamed() throws {
        let ledger = try Ledger(tenant: tenant, blocks: [["a", "b", "c"], ["d"], ["e", "f"]], at: at)
        let (first, firstEvidence) = try ledger.checkpoint(at: at, after: nil, block: 0, signing: ["BJ-CW", "HQ"])
        let (_, secondEvidence) = try ledger.checkpoint(at: at, after: first, block: 2, signing: ["HQ"])
        #expect(String(decoding: first.canonicalBytes, as: UTF8.self).contains("\"period\":\"\(LedgerCheckpoint.Period.quarter(of: at).previous)\""))
        #expect(try LedgerCheckpoint(canonicalBytes: first.canonicalBytes) == first)
        let findings = LedgerCheckpoint.check(
            [firstEvidence, secondEvidence], tenant: tenant, keys: ledger.keys, header: { ledger.headers.indices.contains(Int($0)) ? ledger.headers[Int($0)] : nil })
        #expect(findings.failures.isEmpty, "\(findings.failures)")
        #expect(findings.unsigned == [1: [try OrgCode("BJ-CW")]])

        // A signature over other bytes, and one by an org the checkpoint does not name.
        var forged = secondEvidence
        forged.signatures[0].signatureDER = firstEvidence.signatures[1].signatureDER
        forged.signatures.append(.init(org: try OrgCode("SJZ-FW"), keyVersion: 1, signatureDER: [1]))
        let kinds = LedgerCheckpoint.check([firstEvidence, forged], tenant: tenant, keys: ledger.keys, header: { ledger.headers[Int($0)] })
            .failures.map(\.kind)
        #expect(kinds.contains(.signatureInvalid) && kinds.contains(.checkpointSignerNotNamed), "\(kinds)")

        // A checkpoint that leaves out an org whose key was valid when it was cut.
        let narrow = LedgerCheckpoint(after: nil, at: at, period: .onDemand, header: ledger.headers[0], signers: [try OrgCode("HQ")])
        let narrowEvidence = LedgerCheckpoint.Evidence(number: 0, canonicalBytes: narrow.canonicalBytes, signatures: [], consistencyProof: [])
        let narrowFailures = LedgerCheckpoint.check([narrowEvidence], tenant: tenant, keys: ledger.keys, header: { ledger.headers[Int($0)] })
            .failures
        #expect(narrowFailures.map(\.kind) == [.checkpointSignersWrong] && narrowFailures[0].field == "checkpoints[0].signers")
        // A checkpoint dated before its block was sealed (when other orgs, or none, held keys) is named.
        let early = LedgerCheckpoint(
            after: nil, at: UTCMicros(microsecondsSinceEpoch: ledger.headers[0].sealedAt.microsecondsSinceEpoch - 1), period: .onDemand,
            header: ledger.headers[0], signers: ledger.orgs.map(\.code))
        let earlyFailures = LedgerCheckpoint.check(
            [.init(number: 0, canonicalBytes: early.canonicalBytes, signatures: [], consistencyProof: [])], tenant: tenant, keys: ledger.keys,
            header: { ledger.headers[Int($0)] }
        ).failures.map(\.field)
        #expect(earlyFailures.contains("checkpoints[0].at"), "\(earlyFailures)")
        // A quarter's checkpoint cut before the quarter ended is named.
        let unended = LedgerCheckpoint(after: nil, at: at, period: .quarter(of: at), header: ledger.headers[0], signers: ledger.orgs.map(\.code))
        let unendedFailures = LedgerCheckpoint.check(
            [.init(number: 0, canonicalBytes: unended.canonicalBytes, signatures: [], consistencyProof: [])], tenant: tenant, keys: ledger.keys,
            header: { ledger.headers[Int($0)] }
        ).failures
        #expect(unendedFailures.map { "\($0.field) \($0.kind.rawValue)" } == ["checkpoints[0].at checkpoint-mismatch"], "\(unendedFailures)")
        // Before the keys were valid, no org has to sign.
        #expect(ledger.keys.orgsWithValidKey(at: UTCMicros(microsecondsSinceEpoch: at.microsecondsSinceEpoch - 2_000_000)).isEmpty)
    }

    @Test func theSealerClosesTheQuarterThatEndedLast() throws {
        let (period, end) = LedgerCheckpoint.Period.lastClosedQuarter(at: UTCMicros("2027-01-01T00:00:05.000000Z")!)
        #expect(period == .quarter(year: 2026, quarter: 4) && end == UTCMicros("2027-01-01T00:00:00.000000Z")!)
        let (third, thirdEnd) = LedgerCheckpoint.Period.lastClosedQuarter(at: UTCMicros("2026-09-30T23:59:59.999999Z")!)
        #expect(third == .quarter(year: 2026, quarter: 2) && thirdEnd == UTCMicros("2026-07-01T00:00:00.000000Z")!)
        let (first, _) = LedgerCheckpoint.Period.lastClosedQuarter(at: UTCMicros("2026-04-01T00:00:00.000000Z")!)
        #expect(first == .quarter(year: 2026, quarter: 1) && first.description == "2026-Q1")
        #expect(LedgerCheckpoint.Period("2026-Q1") == first && LedgerCheckpoint.Period("2026-Q5") == nil)
    }

    /// The attack of issue 12: whoever holds the database and the orderer key rewrites block 0
    /// and re-seals every block after it. The checkpoint the orgs signed no longer states block
    /// 0's header, and no consistency proof leads from the root they signed to the rewritten log.
    @Test func aRewrittenAndResealedHistoryIsNamedByTheCheckpointsTheOrgsSigned() throws {
        let honest = try Ledger(tenant: tenant, blocks: [["a", "b", "c"], ["d"], ["e", "f"]], at: at)
        let (signed, signedEvidence) = try honest.checkpoint(at: at, after: nil, block: 0, signing: ["BJ-CW", "HQ"])
        let rewritten = try Ledger(tenant: tenant, blocks: [["a", "B", "c"], ["d"], ["e", "f"]], at: at)
        // The attacker cuts a new checkpoint on the rewritten log, with the best proof it can make.
        let (_, newer) = try rewritten.checkpoint(at: at, after: signed, block: 2, signing: ["HQ"])
        let findings = LedgerCheckpoint.check([signedEvidence, newer], tenant: tenant, keys: honest.keys, header: { rewritten.headers[Int($0)] })
        let named = findings.failures.map { "\($0.field) [\($0.kind.rawValue)]" }
        #expect(named.contains("checkpoints[0].log_root [checkpoint-mismatch]"), "\(named)")
        #expect(named.contains("checkpoints[0].last_block_hash [checkpoint-mismatch]"), "\(named)")
        #expect(named.contains("checkpoints[1].consistency [checkpoint-inconsistent]"), "\(named)")
        // Against the honest log, the same signed checkpoint holds.
        #expect(LedgerCheckpoint.check([signedEvidence], tenant: tenant, keys: honest.keys, header: { honest.headers[Int($0)] }).failures.isEmpty)
    }
}
