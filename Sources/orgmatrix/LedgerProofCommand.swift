import ArgumentParser
import Foundation
import Logging
import Metrics
import OrgMatrixAPI
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO
import SMCrypto

extension LedgerCommand {
    /// Checks an inclusion proof without the server or the database: the transaction file is the
    /// proof's transaction, the path leads from it to the log root of the block header the proof
    /// carries, that header hashes to the block hash it names, and (with `--orderer-key`) the
    /// orderer signed it. What an org keeps of one transfer, checked years later.
    struct VerifyProof: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-proof",
            abstract: "Check an inclusion proof (GET /v1/ledger/transactions/{hash}/proof) against a transaction file, offline.",
            discussion: "Exit status: 0 the proof holds, 1 it does not (the reason on standard error), 2 unusable input.")

        @Option(help: "The transaction's canonical bytes, exactly as signed (the transaction's `canonical`).") var tx: String
        @Option(help: "The proof as the API answers it (JSON).") var proof: String
        @Option(help: "The orderer's public key (PEM): also check the block header's signature.") var ordererKey: String?
        @Option(help: "A bundle's checkpoint directory (checkpoints/<n>): the proof's root must be the one every org signed there.")
        var checkpoint: String?
        @Option(help: "With --checkpoint: the bundle's keys directory, the orgs' public keys and their validity.") var keys: String?
        @Option(
            help: ArgumentHelp(
                "With --checkpoint: ORG=PEM, an org's own public key as it keeps it; that org's signature of the checkpoint must verify with it, whatever the keys directory holds.",
                valueName: "org=pem"))
        var orgKey: String?

        /// The members of the API's proof this check reads; others are ignored.
        private struct Proof: Decodable {
            struct Block: Decodable {
                let hash: String
                let header: String
                let signature: String
            }

            let transaction: String
            let leafIndex: Int
            let treeSize: Int
            let path: [String]
            let block: Block
        }

        func run() throws {
            var parsed: (transaction: [UInt8], proof: Proof, headerBytes: [UInt8], header: BlockHeader, path: [[UInt8]])?
            var orderer: SM2PublicKey?
            var signed: (evidence: LedgerCheckpoint.Evidence, keys: LedgerKeyDirectory)?
            var pinned: (org: OrgCode, key: SM2PublicKey)?
            try reportingUnusableInput {
                guard (checkpoint == nil) == (keys == nil) else { throw UnusableInput("--checkpoint and --keys go together") }
                if let orgKey {
                    guard checkpoint != nil else { throw UnusableInput("--org-key goes with --checkpoint") }
                    let parts = orgKey.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, let org = try? OrgCode(parts[0]) else {
                        throw UnusableInput("--org-key \(orgKey): expected ORG=PEM-FILE, an org code and its public key's file")
                    }
                    do { pinned = (org, try SM2PublicKey(pemRepresentation: try Files.readText(parts[1]))) } catch let error as UnusableInput {
                        throw error
                    } catch { throw UnusableInput("--org-key \(orgKey): \(parts[1]) is not an SM2 public key (PEM): \(error)") }
                }
                let transaction = try Files.read(tx)
                let proof: Proof
                do { proof = try JSONDecoder().decode(Proof.self, from: Data(try Files.read(self.proof))) } catch {
                    throw UnusableInput("\(self.proof) is not an inclusion proof: \(error)")
                }
                let headerBytes = Array(proof.block.header.utf8)
                let header: BlockHeader
                do { header = try BlockHeader(canonicalBytes: headerBytes) } catch {
                    throw UnusableInput("the proof's block header is not a block header: \(error)")
                }
                let path = try proof.path.enumerated().map { index, hex in
                    do { return try LedgerHash(hex: hex).bytes } catch { throw UnusableInput("path[\(index)] is not a 64-digit hash") }
                }
                parsed = (transaction, proof, headerBytes, header, path)
                orderer = try ordererKey.map { try SM2PublicKey(pemRepresentation: try Files.readText($0)) }
                if let checkpoint, let keys { signed = try Self.checkpointEvidence(directory: checkpoint, keys: keys) }
            }
            guard let (transaction, proof, headerBytes, header, path) = parsed else { return }
            let hash = SM3.hash(transaction)
            func fail(_ reason: String) throws -> Never {
                FileHandle.standardError.write(Data("orgmatrix: FAILED: \(reason)\n".utf8))
                throw ExitCode(1)
            }
            if Hex.encode(hash) != proof.transaction {
                try fail("\(tx) hashes to \(Hex.encode(hash)), not the proof's transaction \(proof.transaction)")
            }
            let blockHash = Hex.encode(SM3.hash(headerBytes))
            if blockHash != proof.block.hash {
                try fail("the block header hashes to \(blockHash), not the block hash \(proof.block.hash)")
            }
            if header.logSize != Int64(proof.treeSize) {
                try fail("the proof is for a log of \(proof.treeSize) transactions; block \(header.number) states \(header.logSize)")
            }
            do {
                try MerkleHashing.sm3.verifyInclusion(
                    index: proof.leafIndex, treeSize: proof.treeSize, leafHash: MerkleHashing.sm3.leafHash(hash), proof: path,
                    root: header.logRoot.bytes)
            } catch {
                try fail("the path does not lead from leaf \(proof.leafIndex) to block \(header.number)'s log root: \(error)")
            }
            if let orderer {
                guard let der = Data(base64Encoded: proof.block.signature),
                    let signature = try? SM2Signature(derRepresentation: Array(der)),
                    (try? orderer.isValidSignature(signature, for: headerBytes)) == true
                else { try fail("the orderer's signature does not verify over block \(header.number)'s header") }
            }
            var signers = ""
            if let (evidence, keys) = signed {
                let one = LedgerCheckpoint.checkOne(evidence, tenant: header.tenant, keys: keys, header: { $0 == header.number ? header : nil })
                if let signedSize = one.checkpoint?.logSize, signedSize != header.logSize {
                    try fail(
                        "the proof is for a log of \(header.logSize) transactions; checkpoint \(evidence.number) signed \(signedSize): "
                            + "prove with --tree-size \(signedSize)")
                }
                if !one.failures.isEmpty {
                    try fail(
                        "checkpoint \(evidence.number) does not sign this proof's root: "
                            + one.failures.map(\.description).joined(separator: "; "))
                }
                if !one.unsigned.isEmpty {
                    try fail(
                        "checkpoint \(evidence.number) is not signed by every org with a key: none valid from "
                            + one.unsigned.map(\.rawValue).joined(separator: ", "))
                }
                signers = "; checkpoint \(evidence.number) (\(one.checkpoint!.period)) signs that root, by all \(one.checkpoint!.signers.count) orgs with a key"
                if let (org, key) = pinned {
                    // The keys directory came with the bundle; the org's own key did not.
                    guard let signature = evidence.signatures.first(where: { $0.org == org }),
                        let parsed = try? SM2Signature(derRepresentation: signature.signatureDER),
                        (try? key.isValidSignature(parsed, for: evidence.canonicalBytes)) == true
                    else {
                        try fail(
                            "checkpoint \(evidence.number)'s signature by \(org) does not verify with \(org)'s own key (--org-key): "
                                + "the keys directory is not the one \(org) signed with")
                    }
                    signers += ", \(org)'s with its own key"
                }
            }
            print(
                "OK: transaction \(Hex.encode(hash)) is leaf \(proof.leafIndex) of the log of \(proof.treeSize) transactions that block "
                    + "\(header.number) (\(blockHash)) states\(orderer == nil ? "" : ", signed by the orderer")\(signers)")
        }

        /// A bundle's checkpoint directory and keys directory, read into what the verifier checks.
        static func checkpointEvidence(directory: String, keys keysDirectory: String) throws -> (LedgerCheckpoint.Evidence, LedgerKeyDirectory) {
            func files(_ path: String) throws -> [String: [UInt8]] {
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                    throw UnusableInput("\(path) is not a directory")
                }
                return try Dictionary(uniqueKeysWithValues: names.map { ($0, try Files.read(path + "/" + $0)) })
            }
            let checkpointFiles = try files(directory)
            guard let number = LedgerBundle.number(URL(fileURLWithPath: directory).lastPathComponent) else {
                throw UnusableInput("\(directory) is not a bundle's checkpoint directory (checkpoints/<10 digits>)")
            }
            let (evidence, failures) = LedgerBundle.checkpoint(number, files: checkpointFiles)
            guard let evidence, failures.isEmpty else {
                throw UnusableInput("\(directory): " + failures.map(\.description).joined(separator: "; "))
            }
            let (keys, keyFailures) = LedgerBundle.keys(try files(keysDirectory))
            guard keyFailures.isEmpty else { throw UnusableInput("\(keysDirectory): " + keyFailures.map(\.description).joined(separator: "; ")) }
            return (evidence, LedgerKeyDirectory(keys))
        }
    }
}

extension LedgerCommand {
    /// `orgmatrix ledger prove`: what GET /v1/ledger/transactions/{hash}/proof answers, from the
    /// command line as the principal of an API key (the database's policies decide, as for the
    /// server: an org's principal proves its own transactions, an auditor any), with the
    /// transaction's canonical bytes beside it: the two files `verify-proof` checks offline.
    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Get an inclusion proof of one sealed transaction (and its canonical bytes) for verify-proof.",
            discussion:
                "The API key comes from $\(Verify.keyEnvironmentKey) or --key-file. Exit status: 0 written, 2 usage, refusal or no such proof."
        )

        @OptionGroup var principal: PrincipalOptions
        @Option(name: .customLong("tx"), help: "The transaction's hash (64 hex digits).") var transaction: String
        @Option(help: "Prove in the log of this size (a block's logSize; default: the newest block's).") var treeSize: Int64?
        @Option(help: "Where to write the proof (JSON; default: standard output).") var out: String?
        @Option(help: "Where to write the transaction's canonical bytes.") var txOut: String?

        func validate() throws {
            guard (try? LedgerHash(hex: transaction)) != nil else { throw ValidationError("--tx must be 64 lower-case hex digits") }
            if let treeSize, treeSize < 1 { throw ValidationError("--tree-size must be at least 1") }
        }

        func run() async throws {
            let hash = try usage { try LedgerHash(hex: transaction) }
            let treeSize = self.treeSize
            let (proof, canonical) = try await principal.inSandbox { sandbox in
                let proof = try await sandbox.inclusionProof(hash: hash, treeSize: treeSize)
                guard let record = try await sandbox.ledgerTransaction(hash: hash) else {
                    throw StoreError(.notFound, "No ledger transaction \(hash.hex) in your sandbox.")
                }
                return (proof, record.canonicalBytes)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let json = Array(try encoder.encode(LedgerInclusionProofView(proof))) + [UInt8(ascii: "\n")]
            try usage {
                if let txOut { try Files.write(canonical, to: txOut) }
                if let out { try Files.write(json, to: out) }
            }
            if out == nil { FileHandle.standardOutput.write(Data(json)) }
        }
    }
}

extension LedgerCommand {
    /// `orgmatrix ledger consistency`: what GET /v1/ledger/consistency answers, from the command
    /// line as the principal of an API key: the file `verify-consistency` checks a kept
    /// checkpoint against.
    struct Consistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Get a consistency proof between two tree sizes (from a kept checkpoint's logSize to today's) for verify-consistency.",
            discussion:
                "The API key comes from $\(Verify.keyEnvironmentKey) or --key-file. Exit status: 0 written, 2 usage, refusal or no such proof."
        )

        @OptionGroup var principal: PrincipalOptions
        @Option(help: "The smaller tree's size (a kept checkpoint's logSize).") var from: Int64
        @Option(help: "The larger tree's size (a block's logSize; default: the newest block's).") var to: Int64?
        @Option(help: "Where to write the proof (JSON; default: standard output).") var out: String?

        func validate() throws {
            guard from >= 1 else { throw ValidationError("--from must be at least 1") }
            if let to, to < 1 { throw ValidationError("--to must be at least 1") }
        }

        func run() async throws {
            let (from, to) = (self.from, self.to)
            let proof = try await principal.inSandbox { try await $0.consistencyProof(from: from, to: to) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let json = Array(try encoder.encode(LedgerConsistencyProofView(proof))) + [UInt8(ascii: "\n")]
            if let out { try usage { try Files.write(json, to: out) } } else { FileHandle.standardOutput.write(Data(json)) }
        }
    }

    /// Checks, without the server or the database, that the log today extends the log a kept
    /// checkpoint signed: the proof starts at the block the checkpoint names, with the hash and
    /// root the org signed, and leads from that root to the root of the block it ends at (whose
    /// orderer signature is checked with `--orderer-key`). A history rewritten since the
    /// checkpoint, even re-sealed by the orderer and re-signed by HQ, fails here.
    struct VerifyConsistency: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-consistency",
            abstract: "Check a consistency proof (GET /v1/ledger/consistency) against a checkpoint an org kept, offline.",
            discussion: """
                --checkpoint is GET /v1/ledger/checkpoints/{n}'s answer as saved, or a bundle's checkpoints/<n>/checkpoint.json.
                Exit status: 0 the log extends the checkpoint's, 1 it does not (each reason on standard error), 2 unusable input.
                """)

        @Option(help: "The kept checkpoint (the API's answer, or the canonical document itself).") var checkpoint: String
        @Option(help: "The consistency proof as the API answers it (JSON), from the checkpoint's logSize.") var proof: String
        @Option(help: "The orderer's public key (PEM): also check the signature of the block the proof ends at.") var ordererKey: String?

        /// The members of the API's proof this check reads; others are ignored.
        private struct Proof: Decodable {
            struct Block: Decodable {
                let hash: String
                let header: String
                let signature: String
            }

            let fromSize: Int
            let toSize: Int
            let path: [String]
            let from: Block
            let to: Block
        }

        func run() throws {
            var parsed: (checkpoint: LedgerCheckpoint, proof: Proof, from: BlockHeader, to: BlockHeader, path: [[UInt8]])?
            var orderer: SM2PublicKey?
            try reportingUnusableInput {
                let kept = try Self.checkpointDocument(try Files.read(checkpoint), file: checkpoint)
                let proof: Proof
                do { proof = try JSONDecoder().decode(Proof.self, from: Data(try Files.read(self.proof))) } catch {
                    throw UnusableInput("\(self.proof) is not a consistency proof: \(error)")
                }
                guard Int64(proof.fromSize) == kept.logSize else {
                    throw UnusableInput(
                        "the proof starts at a log of \(proof.fromSize) transactions; checkpoint \(kept.number) signed \(kept.logSize): "
                            + "ask for from=\(kept.logSize)")
                }
                func header(_ block: Proof.Block, _ name: String) throws -> BlockHeader {
                    do { return try BlockHeader(canonicalBytes: Array(block.header.utf8)) } catch {
                        throw UnusableInput("the proof's \(name) block header is not a block header: \(error)")
                    }
                }
                let path = try proof.path.enumerated().map { index, hex in
                    do { return try LedgerHash(hex: hex).bytes } catch { throw UnusableInput("path[\(index)] is not a 64-digit hash") }
                }
                parsed = (kept, proof, try header(proof.from, "from"), try header(proof.to, "to"), path)
                orderer = try ordererKey.map { try SM2PublicKey(pemRepresentation: try Files.readText($0)) }
            }
            guard let (kept, proof, from, to, path) = parsed else { return }
            var failures: [String] = []
            let number = kept.number
            let fromHash = Hex.encode(SM3.hash(Array(proof.from.header.utf8)))
            if from.number != kept.lastBlock || fromHash != kept.lastBlockHash.hex {
                failures.append(
                    "block \(kept.lastBlock) is not the block checkpoint \(number) signed: the proof starts at block \(from.number) "
                        + "hashing to \(fromHash), the checkpoint signed \(kept.lastBlockHash.hex); the history up to it was rewritten")
            }
            if from.logRoot != kept.logRoot {
                failures.append(
                    "the log of \(kept.logSize) transactions has the root \(from.logRoot.hex) today; checkpoint \(number) signed "
                        + "\(kept.logRoot.hex)")
            }
            if to.tenant != kept.tenant || from.tenant != kept.tenant {
                failures.append("the proof's blocks are not of tenant \(kept.tenant), the checkpoint's")
            }
            if to.number < kept.lastBlock {
                failures.append("the proof ends at block \(to.number), before the checkpoint's block \(kept.lastBlock)")
            }
            let toHash = Hex.encode(SM3.hash(Array(proof.to.header.utf8)))
            if toHash != proof.to.hash || Int64(proof.toSize) != to.logSize {
                failures.append("the proof's to block does not hash to \(proof.to.hash) or does not state a log of \(proof.toSize)")
            }
            do {
                try MerkleHashing.sm3.verifyConsistency(
                    oldSize: Int(kept.logSize), newSize: Int(to.logSize), oldRoot: kept.logRoot.bytes, newRoot: to.logRoot.bytes, proof: path)
            } catch {
                failures.append(
                    "no consistency from the root checkpoint \(number) signed (\(kept.logSize) transactions) to block \(to.number)'s "
                        + "(\(to.logSize)): \(error)")
            }
            if let orderer {
                guard let der = Data(base64Encoded: proof.to.signature), let signature = try? SM2Signature(derRepresentation: Array(der)),
                    (try? orderer.isValidSignature(signature, for: Array(proof.to.header.utf8))) == true
                else {
                    failures.append("the orderer's signature does not verify over block \(to.number)'s header")
                    return try report(failures)
                }
            }
            try report(failures)
            if orderer == nil {
                FileHandle.standardError.write(
                    Data("orgmatrix: the block the proof ends at is not checked to be the orderer's (give --orderer-key)\n".utf8))
            }
            print(
                "OK: the log of \(to.logSize) transactions block \(to.number) (\(toHash)) states extends the log of \(kept.logSize) "
                    + "checkpoint \(number) signed\(orderer == nil ? "" : "; block \(to.number) is signed by the orderer")")
        }

        private func report(_ failures: [String]) throws {
            guard !failures.isEmpty else { return }
            for failure in failures { FileHandle.standardError.write(Data("orgmatrix: FAILED: \(failure)\n".utf8)) }
            throw ExitCode(1)
        }

        /// The checkpoint a kept file holds: the API's answer (its `canonical`) or the document itself.
        static func checkpointDocument(_ bytes: [UInt8], file: String) throws -> LedgerCheckpoint {
            if let document = try? LedgerCheckpoint(canonicalBytes: bytes) { return document }
            let answer = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            do { return try LedgerCheckpoint(canonicalBytes: Array((answer?["canonical"] as? String ?? "").utf8)) } catch {
                throw UnusableInput("\(file) holds no checkpoint (the API's answer or its canonical document): \(error)")
            }
        }
    }
}
