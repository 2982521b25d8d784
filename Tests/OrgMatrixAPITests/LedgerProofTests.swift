import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OrgMatrixCore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

/// The auditor's view of the blocks, and RFC 9162 proofs with SM3: each answer is checked here
/// the way a client checks it, with Core's verifiers against the block headers it comes with.
@Suite struct LedgerProofTests {
    typealias API = IsolationTests.API


    /// The number of the block that lists `hash`, found through the API.
    private func blockNumber(sealing hash: LedgerHash, _ api: API, key: String) async throws -> Int {
        for number in 0..<100 {
            let block = json(try await api.get("/v1/ledger/blocks/\(number)", key: key))
            if (block["transactions"] as? [String])?.contains(hash.hex) == true { return number }
        }
        throw TestSetupError("no block lists \(hash.hex)")
    }

    /// A block as the API shows it holds together: SM3 of its header text is its hash, and the
    /// header's fields are the ones listed beside it.
    private func checkBlock(_ block: [String: Any]) throws -> BlockHeader {
        let text = try #require(block["header"] as? String)
        let header = try BlockHeader(canonicalBytes: Array(text.utf8))
        #expect(try LedgerHash(SM3.hash(Array(text.utf8))).hex == block["hash"] as? String)
        #expect(header.number == (block["number"] as? Int).map(Int64.init) && header.logSize == (block["logSize"] as? Int).map(Int64.init))
        #expect(header.logRoot.hex == block["logRoot"] as? String && header.previousHash.hex == block["previousHash"] as? String)
        #expect(Data(base64Encoded: block["signature"] as? String ?? "") != nil)
        return header
    }

    @Test func blocksArePagedToTheEndAndEachListsWhatItSeals() async throws {
        let scenario = try await LedgerScenario.make(label: "blocks")
        let key = scenario.fixture.key("a-operator")
        try await withAPI { api in
            var blocks: [[String: Any]] = []
            var cursor: String?
            repeat {
                let reply = try await api.get("/v1/ledger/blocks?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), key: key)
                #expect(reply.status == .ok, "\(reply.text)")
                let page = json(reply)
                blocks += page["items"] as? [[String: Any]] ?? []
                cursor = page["nextCursor"] as? String
            } while cursor != nil
            // Blocks of three: 13 committed transactions make five.
            #expect(blocks.count == 5)
            var previous = LedgerHash.zero
            var sealed = 0
            for (number, block) in blocks.enumerated() {
                let header = try checkBlock(block)
                #expect(header.number == Int64(number) && header.previousHash == previous && block["transactions"] == nil)
                previous = try LedgerHash(hex: block["hash"] as! String)
                let detail = json(try await api.get("/v1/ledger/blocks/\(number)", key: key))
                let hashes = try #require(detail["transactions"] as? [String])
                sealed += hashes.count
                #expect(Int64(hashes.count) == header.transactionCount)
                let leaves = try hashes.map { MerkleHashing.sm3.leafHash(try LedgerHash(hex: $0).bytes) }
                #expect(MerkleHashing.sm3.rootHash(leaves) == header.dataHash.bytes)
            }
            #expect(sealed == LedgerScenario.committedTransactions)
            for path in ["/v1/ledger/blocks/5", "/v1/ledger/blocks/-1", "/v1/ledger/blocks/x"] {
                #expect(try await api.get(path, key: key).status == .notFound, "\(path)")
            }
            for query in ["cursor=x", "cursor=-2", "limit=0"] {
                let reply = try await api.get("/v1/ledger/blocks?\(query)", key: key)
                #expect(reply.status == .unprocessableContent && json(reply)["field"] as? String == String(query.prefix { $0 != "=" }))
            }
            #expect(try await api.get("/v1/ledger/blocks", key: nil).status == .unauthorized)
        }
    }

    @Test func anInclusionProofVerifiesAgainstTheSignedRootOfTheTreeItNames() async throws {
        let scenario = try await LedgerScenario.make(label: "inclusion")
        let dispatch = scenario.hash(scenario.claimed, .transferDispatched)
        try await withAPI { api in
            let path = "/v1/ledger/transactions/\(dispatch.hex)/proof"
            var sizes: [Int64] = []
            for principal in ["a-operator", "hq-auditor"] {
                let reply = try await api.get(path, key: scenario.fixture.key(principal))
                #expect(reply.status == .ok, "\(reply.text)")
                let proof = json(reply)
                let header = try checkBlock(try #require(proof["block"] as? [String: Any]))
                let (index, size) = (try #require(proof["leafIndex"] as? Int), try #require(proof["treeSize"] as? Int))
                #expect(Int64(size) == header.logSize)
                let audit = try (proof["path"] as? [String] ?? []).map { try LedgerHash(hex: $0).bytes }
                try MerkleHashing.sm3.verifyInclusion(
                    index: index, treeSize: size, leafHash: MerkleHashing.sm3.leafHash(dispatch.bytes), proof: audit,
                    root: header.logRoot.bytes)
                // One changed byte in the path, or the proof for another leaf, does not verify.
                if var forged = audit.first {
                    forged[0] ^= 1
                    #expect(throws: MerkleProofError.self) {
                        try MerkleHashing.sm3.verifyInclusion(
                            index: index, treeSize: size, leafHash: MerkleHashing.sm3.leafHash(dispatch.bytes),
                            proof: [forged] + audit.dropFirst(), root: header.logRoot.bytes)
                    }
                }
                #expect(throws: MerkleProofError.self) {
                    try MerkleHashing.sm3.verifyInclusion(
                        index: index, treeSize: size, leafHash: MerkleHashing.sm3.leafHash(LedgerHash.zero.bytes), proof: audit,
                        root: header.logRoot.bytes)
                }
                sizes.append(Int64(size))
                // Against the tree of the block that sealed it: also a signed root.
                let number = try await blockNumber(sealing: dispatch, api, key: scenario.fixture.key(principal))
                let sealing = json(try await api.get("/v1/ledger/blocks/\(number)", key: scenario.fixture.key(principal)))
                let own = json(try await api.get("\(path)?tree_size=\(sealing["logSize"] as! Int)", key: scenario.fixture.key(principal)))
                let ownHeader = try checkBlock(try #require(own["block"] as? [String: Any]))
                try MerkleHashing.sm3.verifyInclusion(
                    index: own["leafIndex"] as! Int, treeSize: own["treeSize"] as! Int, leafHash: MerkleHashing.sm3.leafHash(dispatch.bytes),
                    proof: try (own["path"] as? [String] ?? []).map { try LedgerHash(hex: $0).bytes }, root: ownHeader.logRoot.bytes)
            }
            #expect(sizes == [Int64(LedgerScenario.committedTransactions), Int64(LedgerScenario.committedTransactions)])

            let auditor = scenario.fixture.key("hq-auditor")
            // Not a tree any block states; not a size at all; a tree from before the transaction was sealed.
            for (query, status) in [
                ("tree_size=1000", HTTPResponse.Status.notFound), ("tree_size=0", .unprocessableContent),
                ("tree_size=x", .unprocessableContent),
            ] {
                let reply = try await api.get("\(path)?\(query)", key: auditor)
                #expect(reply.status == status && json(reply)["field"] as? String == "tree_size", "\(query): \(reply.text)")
            }
            let first = json(try await api.get("/v1/ledger/blocks/0", key: auditor))
            if try await blockNumber(sealing: dispatch, api, key: auditor) > 0 {
                let early = try await api.get("\(path)?tree_size=\(first["logSize"] as! Int)", key: auditor)
                #expect(early.status == .conflict, "\(early.text)")
            }
            // Someone who does not see the transaction; a transaction not sealed yet.
            #expect(try await api.get(path, key: scenario.fixture.key("c-operator")).status == .notFound)
            let pending = scenario.hash(scenario.received, .transferReceived)
            let unsealed = try await api.get("/v1/ledger/transactions/\(pending.hex)/proof", key: auditor)
            #expect(unsealed.status == .conflict && unsealed.text.contains("not sealed"), "\(unsealed.text)")
        }
    }

    @Test func aConsistencyProofLinksTheFirstBlocksLogToTheNewest() async throws {
        let scenario = try await LedgerScenario.make(label: "consistency")
        let key = scenario.fixture.key("b-operator")
        try await withAPI { api in
            let first = json(try await api.get("/v1/ledger/blocks/0", key: key))
            let from = try #require(first["logSize"] as? Int)
            let reply = try await api.get("/v1/ledger/consistency?from=\(from)", key: key)
            #expect(reply.status == .ok, "\(reply.text)")
            let proof = json(reply)
            let old = try checkBlock(try #require(proof["from"] as? [String: Any]))
            let new = try checkBlock(try #require(proof["to"] as? [String: Any]))
            #expect(old.number == 0 && new.logSize == Int64(LedgerScenario.committedTransactions))
            let path = try (proof["path"] as? [String] ?? []).map { try LedgerHash(hex: $0).bytes }
            try MerkleHashing.sm3.verifyConsistency(
                oldSize: Int(old.logSize), newSize: Int(new.logSize), oldRoot: old.logRoot.bytes, newRoot: new.logRoot.bytes, proof: path)
            // The same proof does not link another old root.
            #expect(throws: MerkleProofError.self) {
                try MerkleHashing.sm3.verifyConsistency(
                    oldSize: Int(old.logSize), newSize: Int(new.logSize), oldRoot: new.logRoot.bytes, newRoot: new.logRoot.bytes, proof: path)
            }
            for (query, status, field) in [
                ("", HTTPResponse.Status.unprocessableContent, "from"), ("from=0", .unprocessableContent, "from"),
                ("from=\(new.logSize)&to=\(from)", .unprocessableContent, "from"),
                // Sizes no block states.
                ("from=\(from)&to=999", .notFound, "to"), ("from=1000", .notFound, "from"),
            ] {
                let refused = try await api.get("/v1/ledger/consistency?\(query)", key: key)
                #expect(refused.status == status && json(refused)["field"] as? String == field, "\(query): \(refused.text)")
            }
        }
    }

    /// `orgmatrix ledger verify-proof`, offline, on what an org keeps of one transfer: the
    /// transaction's bytes and the API's proof, with the orderer's public key. Any changed byte
    /// of either, or another orderer key, fails it (exit 1); unreadable input is exit 2.
    @Test func theCommandLineChecksAKeptProofOffline() async throws {
        let scenario = try await LedgerScenario.make(label: "verify-proof")
        let dispatch = scenario.hash(scenario.claimed, .transferDispatched)
        let key = scenario.fixture.key("a-operator")
        let (canonical, proof) = try await withAPI { api in
            (
                try #require(json(try await api.get("/v1/ledger/transactions/\(dispatch.hex)", key: key))["canonical"] as? String),
                try await api.get("/v1/ledger/transactions/\(dispatch.hex)/proof", key: key).text
            )
        }
        let environment = try await SharedDatabase.environment()
        let ordererDER = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                "SELECT public_key FROM org_keys WHERE tenant_id = \(scenario.fixture.tenantID.rawValue) AND owner = 'orderer' AND version = 1",
                logger: testLogger
            ).collect().first!.decode(ByteBuffer.self)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("proof-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = folder.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let txPath = try write("tx.json", Array(canonical.utf8))
        let proofPath = try write("proof.json", Array(proof.utf8))
        let ordererPath = try write(
            "orderer.pem", Array(try SM2PublicKey(derRepresentation: Array(ordererDER.readableBytesView)).pemRepresentation.utf8))
        let otherPath = try write("other.pem", Array(SM2PrivateKey.generate().publicKey.pemRepresentation.utf8))
        func verifyProof(_ tx: String, _ proof: String, orderer: String? = nil) throws -> ProcessOutput {
            try runProcess(
                TestEnvironment.orgmatrixExecutable,
                ["ledger", "verify-proof", "--tx", tx, "--proof", proof] + (orderer.map { ["--orderer-key", $0] } ?? []))
        }
        let ok = try verifyProof(txPath, proofPath, orderer: ordererPath)
        #expect(ok.status == 0 && ok.text.hasPrefix("OK: transaction \(dispatch.hex) is leaf "), "\(ok.text)\(ok.standardError)")
        #expect(ok.text.contains("signed by the orderer"))
        #expect(try verifyProof(txPath, proofPath).status == 0)
        // The orderer's key of another tenant.
        let otherOrderer = try verifyProof(txPath, proofPath, orderer: otherPath)
        #expect(otherOrderer.status == 1 && otherOrderer.standardError.contains("orderer's signature"), "\(otherOrderer.standardError)")
        // One byte of the transaction; one digit of the path; the header's log root.
        var changed = Array(canonical.utf8)
        changed[changed.count / 2] ^= 1
        let tamperedTx = try verifyProof(try write("tx2.json", changed), proofPath)
        #expect(tamperedTx.status == 1 && tamperedTx.standardError.contains("hashes to"), "\(tamperedTx.standardError)")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(proof.utf8)) as? [String: Any])
        var path = try #require(object["path"] as? [String])
        try #require(!path.isEmpty)
        path[0] = String(path[0].reversed())
        object["path"] = path
        let tamperedPath = try verifyProof(txPath, try write("proof2.json", Array(try JSONSerialization.data(withJSONObject: object))))
        #expect(tamperedPath.status == 1 && tamperedPath.standardError.contains("does not lead"), "\(tamperedPath.standardError)")
        object["path"] = Array(path.dropFirst())
        let truncated = try verifyProof(txPath, try write("proof3.json", Array(try JSONSerialization.data(withJSONObject: object))))
        #expect(truncated.status == 1, "\(truncated.standardError)")
        // Unusable input: no such file, not JSON.
        #expect(try verifyProof(folder.appendingPathComponent("missing").path, proofPath).status == 2)
        #expect(try verifyProof(txPath, txPath).status == 2)
    }
}
