import Foundation
import OrgMatrixCore
import SMCrypto
import Testing

@Suite struct MerkleTreeTests {
    private let sha256 = MerkleHashing.sha256
    private let sm3 = MerkleHashing.sm3

    private func b64(_ text: String) -> [UInt8] { Array(Data(base64Encoded: text)!) }

    /// RFC 6962's reference leaves (the eight inputs of github.com/google/certificate-transparency
    /// and transparency-dev/merkle): their tree root, a published constant.
    private let referenceLeaves: [[UInt8]] = [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
    ]

    @Test func sha256RootsMatchThePublishedValues() {
        // The empty tree: SHA-256 of nothing.
        #expect(Hex.encode(sha256.rootHash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // transparency-dev/merkle testdata (inclusion/1/happy-path.json): the root of all eight.
        #expect(sha256.rootHash(referenceLeaves.map(sha256.leafHash)) == b64("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="))
    }

    /// transparency-dev/merkle testdata, inclusion/1/happy-path.json and consistency/1/happy-path.json.
    @Test func publishedProofsAreGeneratedExactlyAndVerify() throws {
        let leaves = referenceLeaves.map(sha256.leafHash)
        let root = b64("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")
        let path = ["lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=", "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=", "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ="].map(b64)
        #expect(leaves[0] == b64("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="))
        #expect(try sha256.inclusionProof(index: 0, leaves: leaves) == path)
        try sha256.verifyInclusion(index: 0, treeSize: 8, leafHash: leaves[0], proof: path, root: root)
        #expect(try sha256.consistencyProof(oldSize: 1, leaves: leaves) == path)
        try sha256.verifyConsistency(oldSize: 1, newSize: 8, oldRoot: leaves[0], newRoot: root, proof: path)
    }

    /// Every leaf of every tree up to 33 leaves, and every pair of sizes, with SM3: the proofs we
    /// make verify, and every damaged one (a hash dropped, added, flipped or moved; another
    /// index; a rewritten old tree) is refused. (A proof may also fit a neighbouring tree size:
    /// the size is bound by the signed header or checkpoint the root comes from, not by the path.)
    @Test func sm3ProofsVerifyAndEveryDamagedProofIsRefused() throws {
        let all = (0..<33).map { sm3.leafHash(Array("tx-\($0)".utf8)) }
        for size in 1...all.count {
            let leaves = Array(all[..<size])
            let root = sm3.rootHash(leaves)
            for index in 0..<size {
                let proof = try sm3.inclusionProof(index: index, leaves: leaves)
                try sm3.verifyInclusion(index: index, treeSize: size, leafHash: leaves[index], proof: proof, root: root)
                for damaged in damage(proof) {
                    #expect(throws: MerkleProofError.self) {
                        try sm3.verifyInclusion(index: index, treeSize: size, leafHash: leaves[index], proof: damaged, root: root)
                    }
                }
                if size > 1 {
                    #expect(throws: MerkleProofError.self) {
                        try sm3.verifyInclusion(index: (index + 1) % size, treeSize: size, leafHash: leaves[index], proof: proof, root: root)
                    }
                }
            }
            #expect(throws: MerkleProofError.indexBeyondSize(index: size, treeSize: size)) {
                try sm3.verifyInclusion(index: size, treeSize: size, leafHash: leaves[0], proof: [], root: root)
            }
            for oldSize in 1..<size {
                let oldRoot = sm3.rootHash(leaves[..<oldSize])
                let proof = try sm3.consistencyProof(oldSize: oldSize, leaves: leaves)
                try sm3.verifyConsistency(oldSize: oldSize, newSize: size, oldRoot: oldRoot, newRoot: root, proof: proof)
                for damaged in damage(proof) {
                    #expect(throws: MerkleProofError.self) {
                        try sm3.verifyConsistency(oldSize: oldSize, newSize: size, oldRoot: oldRoot, newRoot: root, proof: damaged)
                    }
                }
                let rewritten = sm3.rootHash([sm3.leafHash(Array("forged".utf8))] + leaves[1..<oldSize])
                #expect(throws: MerkleProofError.self) {
                    try sm3.verifyConsistency(oldSize: oldSize, newSize: size, oldRoot: rewritten, newRoot: root, proof: proof)
                }
            }
        }
    }

    /// Random damage to real proofs in larger trees (seeded, so a failure repeats): hashes
    /// replaced by random bytes of random lengths, dropped, duplicated or shuffled, another index
    /// or leaf, an old root from another tree. The verifiers never trap and accept only the
    /// proof they were given for the leaf, index and roots it was made for. (The tree size is not
    /// varied: it is bound by the signed header or checkpoint the root comes from.)
    @Test func randomlyDamagedProofsAreNeverAccepted() throws {
        var random = SeededNumbers(label: "merkle damage")
        let all = (0..<700).map { sm3.leafHash(Array("tx-\($0)".utf8)) }
        for size in [2, 3, 64, 65, 255, 511, 700] {
            let leaves = Array(all[..<size])
            let root = sm3.rootHash(leaves)
            for _ in 0..<60 {
                let index = Int(random.next() % UInt64(size))
                let proof = try sm3.inclusionProof(index: index, leaves: leaves)
                let (damagedIndex, damagedLeaf, damagedProof) = damage(index: index, leaf: leaves[index], proof: proof, size: size, &random)
                let accepted = (try? sm3.verifyInclusion(
                    index: damagedIndex, treeSize: size, leafHash: damagedLeaf, proof: damagedProof, root: root)) != nil
                let unchanged = damagedIndex == index && damagedLeaf == leaves[index] && damagedProof == proof
                #expect(accepted == unchanged, "size \(size), index \(index) → \(damagedIndex), proof \(proof.count) → \(damagedProof.count)")

                let oldSize = 1 + Int(random.next() % UInt64(size - 1))
                let oldRoot = sm3.rootHash(leaves[..<oldSize])
                let consistency = try sm3.consistencyProof(oldSize: oldSize, leaves: leaves)
                let (_, damagedOldRoot, damagedConsistency) = damage(index: 0, leaf: oldRoot, proof: consistency, size: 1, &random)
                let linked = (try? sm3.verifyConsistency(
                    oldSize: oldSize, newSize: size, oldRoot: damagedOldRoot, newRoot: root, proof: damagedConsistency)) != nil
                #expect(linked == (damagedOldRoot == oldRoot && damagedConsistency == consistency), "size \(size), old \(oldSize)")
            }
        }
    }

    /// One random damage, or none (about one case in eight stays whole).
    private func damage(
        index: Int, leaf: [UInt8], proof: [[UInt8]], size: Int, _ random: inout SeededNumbers
    ) -> (Int, [UInt8], [[UInt8]]) {
        var (index, leaf, proof) = (index, leaf, proof)
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        switch random.next() % 8 {
        case 0: break
        case 1 where !proof.isEmpty: proof[Int(random.next() % UInt64(proof.count))] = bytes(32)
        case 2 where !proof.isEmpty: proof[Int(random.next() % UInt64(proof.count))] = bytes(Int(random.next() % 40))
        case 3 where !proof.isEmpty: proof.remove(at: Int(random.next() % UInt64(proof.count)))
        case 4: proof.insert(proof.first ?? bytes(32), at: Int(random.next() % UInt64(proof.count + 1)))
        case 5 where proof.count > 1: proof.swapAt(0, proof.count - 1)
        case 6 where size > 1: index = (index + 1 + Int(random.next() % UInt64(size - 1))) % size
        case 7: leaf = bytes(32)
        default: proof.append(bytes(32))
        }
        return (index, leaf, proof)
    }

    @Test func malformedInputsAreRefusedNotTrapped() {
        let leaf = sm3.leafHash([1])
        #expect(throws: MerkleProofError.malformedHash(byteCount: 31, expected: 32)) {
            try sm3.verifyInclusion(index: 0, treeSize: 2, leafHash: leaf, proof: [Array(leaf.dropLast())], root: leaf)
        }
        #expect(throws: MerkleProofError.indexBeyondSize(index: -1, treeSize: 2)) {
            try sm3.verifyInclusion(index: -1, treeSize: 2, leafHash: leaf, proof: [], root: leaf)
        }
        #expect(throws: MerkleProofError.sizesOutOfOrder(oldSize: 3, newSize: 2)) {
            try sm3.verifyConsistency(oldSize: 3, newSize: 2, oldRoot: leaf, newRoot: leaf, proof: [])
        }
        #expect(throws: MerkleProofError.emptyOldTree) {
            try sm3.verifyConsistency(oldSize: 0, newSize: 2, oldRoot: sm3.rootHash([]), newRoot: leaf, proof: [])
        }
        #expect(throws: MerkleProofError.indexBeyondSize(index: 2, treeSize: 2)) { try sm3.inclusionProof(index: 2, leaves: [leaf, leaf]) }
    }

    private func damage(_ proof: [[UInt8]]) -> [[[UInt8]]] {
        var out: [[[UInt8]]] = [proof + [proof.first ?? Array(repeating: 7, count: 32)]]
        if !proof.isEmpty {
            out.append(Array(proof.dropLast()))
            out.append(Array(proof.dropFirst()))
            for position in proof.indices {
                var flipped = proof
                flipped[position][position % 32] ^= 0x01
                out.append(flipped)
            }
        }
        if proof.count > 1 { out.append(proof.reversed()) }
        return out
    }
}

/// Reproducible random numbers for the damage tests: SM3 of a counter under a fixed label.
struct SeededNumbers {
    private var counter: UInt64 = 0
    private let label: String
    init(label: String) { self.label = label }
    mutating func next() -> UInt64 {
        counter += 1
        return SM3.hash("\(label)/\(counter)").prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
