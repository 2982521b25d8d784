import Foundation
import OrgMatrixCore
import SMCrypto
import Testing

/// The published conformance vectors (RFC 8785 JCS and RFC 9162 Merkle proofs), which are
/// another project's files and not in this repository: `.ci/run` points ORGMATRIX_VECTORS at
/// `../shared/vectors` when it is there and runs these; elsewhere they are reported as skipped.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["ORGMATRIX_VECTORS"] != nil, "set ORGMATRIX_VECTORS to the vectors folder"))
struct PublishedVectorsTests {
    private let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["ORGMATRIX_VECTORS"] ?? "/nonexistent")
    private let sha256 = MerkleHashing.sha256

    private func files(_ folder: String) throws -> [URL] {
        let base = root.appendingPathComponent(folder)
        let names = try FileManager.default.subpathsOfDirectory(atPath: base.path)
        return names.filter { $0.hasSuffix(".json") }.sorted().map { base.appendingPathComponent($0) }
    }

    /// Every input canonicalizes to exactly its published output, except the two documents
    /// with non-integer numbers (values.json: 4.50, 1E30, …; structures.json: 56.0), which are refused.
    @Test func rfc8785() throws {
        let withFloats: Set = ["values.json", "structures.json"]
        let inputs = try files("rfc8785-jcs/input")
        #expect(inputs.count >= 6)
        for input in inputs {
            let name = input.lastPathComponent
            let bytes = Array(try Data(contentsOf: input))
            if withFloats.contains(name) {
                #expect(throws: CanonicalJSONError.self, "\(name)") { try CanonicalJSON.parse(bytes) }
                continue
            }
            let expected = Array(try Data(contentsOf: root.appendingPathComponent("rfc8785-jcs/output/" + name)))
            #expect(CanonicalJSON.encode(try CanonicalJSON.parse(bytes)) == expected, "\(name)")
        }
    }

    private struct Inclusion: Decodable {
        let leafIdx: UInt64
        let treeSize: UInt64
        let root: String?
        let leafHash: String?
        let proof: [String]?
        let desc: String
        let wantErr: Bool
    }

    private struct Consistency: Decodable {
        let size1: UInt64
        let size2: UInt64
        let root1: String?
        let root2: String?
        let proof: [String]?
        let desc: String
        let wantErr: Bool
    }

    private func bytes(_ text: String?) -> [UInt8] { Array(Data(base64Encoded: text ?? "") ?? Data()) }

    @Test func rfc9162Inclusion() throws {
        let cases = try files("rfc9162-merkle/inclusion")
        #expect(cases.count > 50)
        for file in cases {
            let c = try JSONDecoder().decode(Inclusion.self, from: Data(contentsOf: file))
            var refused = false
            do {
                // A size past Int.max is not a tree this verifier can be asked about: refused.
                guard let index = Int(exactly: c.leafIdx), let size = Int(exactly: c.treeSize) else { throw MerkleProofError.wrongProofLength }
                try sha256.verifyInclusion(
                    index: index, treeSize: size, leafHash: bytes(c.leafHash), proof: (c.proof ?? []).map(bytes), root: bytes(c.root))
            } catch {
                refused = true
            }
            #expect(refused == c.wantErr, "\(file.path): \(c.desc)")
        }
    }

    @Test func rfc9162Consistency() throws {
        let cases = try files("rfc9162-merkle/consistency")
        #expect(cases.count > 50)
        for file in cases {
            let c = try JSONDecoder().decode(Consistency.self, from: Data(contentsOf: file))
            var refused = false
            do {
                guard let size1 = Int(exactly: c.size1), let size2 = Int(exactly: c.size2) else { throw MerkleProofError.wrongProofLength }
                try sha256.verifyConsistency(
                    oldSize: size1, newSize: size2, oldRoot: bytes(c.root1), newRoot: bytes(c.root2), proof: (c.proof ?? []).map(bytes))
            } catch {
                refused = true
            }
            #expect(refused == c.wantErr, "\(file.path): \(c.desc)")
        }
    }
}
