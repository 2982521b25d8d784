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
            try reportingUnusableInput {
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
            print(
                "OK: transaction \(Hex.encode(hash)) is leaf \(proof.leafIndex) of the log of \(proof.treeSize) transactions that block "
                    + "\(header.number) (\(blockHash)) states\(orderer == nil ? "" : ", signed by the orderer")")
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
            let (key, logger, url) = try principal.prepare()
            let hash = try usage { try LedgerHash(hex: transaction) }
            let treeSize = self.treeSize
            let (proof, canonical): (LedgerInclusionProof, [UInt8])
            do {
                (proof, canonical) = try await Settings.withClient(url, logger: logger) { client in
                    let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
                    return try await database.withSandbox(key: key, requestID: "cli-" + UUID().uuidString.lowercased(), logger: logger) {
                        sandbox in
                        let proof = try await sandbox.inclusionProof(hash: hash, treeSize: treeSize)
                        guard let record = try await sandbox.ledgerTransaction(hash: hash) else {
                            throw StoreError(.notFound, "No ledger transaction \(hash.hex) in your sandbox.")
                        }
                        return (proof, record.canonicalBytes)
                    }
                }
            } catch let error as StoreError {
                try fail(error.detail)
            } catch let error as PostgresTransactionError {
                // A refusal inside the sandbox's transaction comes wrapped in it.
                guard let refusal = error.closureError as? StoreError else { throw error }
                try fail(refusal.detail)
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
