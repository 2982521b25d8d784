import SMCrypto

/// RFC 9162 §2.1 Merkle tree hashing over any hash: the tree hash of a list of leaves, inclusion
/// and consistency proofs, and their verification. The ledger uses SM3; the published vectors use
/// SHA-256, which is how this code is checked.
///
/// Leaves are given as their leaf hashes, `hash(0x00 ‖ data)`; an interior node is
/// `hash(0x01 ‖ left ‖ right)`; the empty tree's hash is `hash()`.
public struct MerkleHashing: Sendable {
    public let hash: @Sendable ([UInt8]) -> [UInt8]
    public let digestByteCount: Int

    public init(digestByteCount: Int, hash: @escaping @Sendable ([UInt8]) -> [UInt8]) {
        self.digestByteCount = digestByteCount
        self.hash = hash
    }

    public static let sm3 = MerkleHashing(digestByteCount: SM3.digestByteCount) { SM3.hash($0) }

    public func leafHash(_ data: [UInt8]) -> [UInt8] { hash([0x00] + data) }

    public func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { hash([0x01] + left + right) }

    /// MTH(D[n]).
    public func rootHash(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        switch leaves.count {
        case 0: return hash([])
        case 1: return leaves.first!
        default:
            let split = leaves.startIndex + Self.splitPoint(leaves.count)
            return nodeHash(rootHash(leaves[..<split]), rootHash(leaves[split...]))
        }
    }

    public func rootHash(_ leaves: [[UInt8]]) -> [UInt8] { rootHash(leaves[...]) }

    /// PATH(index, D[n]) of RFC 9162 §2.1.3.1: the audit path of one leaf in the tree of `leaves`.
    public func inclusionProof(index: Int, leaves: [[UInt8]]) throws(MerkleProofError) -> [[UInt8]] {
        guard index >= 0, index < leaves.count else { throw .indexBeyondSize(index: index, treeSize: leaves.count) }
        return path(index, leaves[...])
    }

    private func path(_ index: Int, _ leaves: ArraySlice<[UInt8]>) -> [[UInt8]] {
        guard leaves.count > 1 else { return [] }
        let k = Self.splitPoint(leaves.count)
        let split = leaves.startIndex + k
        if index < k { return path(index, leaves[..<split]) + [rootHash(leaves[split...])] }
        return path(index - k, leaves[split...]) + [rootHash(leaves[..<split])]
    }

    /// PROOF(m, D[n]) of RFC 9162 §2.1.4.1: that the first `oldSize` leaves are a prefix of `leaves`.
    public func consistencyProof(oldSize: Int, leaves: [[UInt8]]) throws(MerkleProofError) -> [[UInt8]] {
        guard oldSize >= 0, oldSize <= leaves.count else { throw .sizesOutOfOrder(oldSize: oldSize, newSize: leaves.count) }
        guard oldSize > 0, oldSize < leaves.count else { return [] }
        return subproof(oldSize, leaves[...], complete: true)
    }

    private func subproof(_ m: Int, _ leaves: ArraySlice<[UInt8]>, complete: Bool) -> [[UInt8]] {
        if m == leaves.count { return complete ? [] : [rootHash(leaves)] }
        let k = Self.splitPoint(leaves.count)
        let split = leaves.startIndex + k
        if m <= k { return subproof(m, leaves[..<split], complete: complete) + [rootHash(leaves[split...])] }
        return subproof(m - k, leaves[split...], complete: false) + [rootHash(leaves[..<split])]
    }

    /// RFC 9162 §2.1.3.2. Throws unless `proof` proves `leafHash` at `index` in the tree of
    /// `treeSize` leaves whose hash is `root`; a proof one hash too long or too short fails.
    public func verifyInclusion(
        index: Int, treeSize: Int, leafHash: [UInt8], proof: [[UInt8]], root: [UInt8]
    ) throws(MerkleProofError) {
        guard index >= 0, treeSize >= 0, index < treeSize else { throw .indexBeyondSize(index: index, treeSize: treeSize) }
        try checkLengths([leafHash, root] + proof)
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in proof {
            guard sn > 0 else { throw .wrongProofLength }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength }
        guard r == root else { throw .rootMismatch }
    }

    /// RFC 9162 §2.1.4.2. Throws unless `proof` proves that the tree of `oldSize` leaves with hash
    /// `oldRoot` is a prefix of the tree of `newSize` leaves with hash `newRoot`.
    public func verifyConsistency(
        oldSize: Int, newSize: Int, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]
    ) throws(MerkleProofError) {
        guard oldSize >= 0, oldSize <= newSize else { throw .sizesOutOfOrder(oldSize: oldSize, newSize: newSize) }
        // Every tree extends the empty one: a caller asking for that proof checks nothing.
        guard oldSize > 0 else { throw .emptyOldTree }
        if oldSize == newSize {
            guard proof.isEmpty else { throw .wrongProofLength }
            guard oldRoot == newRoot else { throw .rootMismatch }
            return
        }
        try checkLengths([oldRoot, newRoot] + proof)
        guard !proof.isEmpty else { throw .wrongProofLength }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn > 0 else { throw .wrongProofLength }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength }
        guard fr == oldRoot, sr == newRoot else { throw .rootMismatch }
    }

    private func checkLengths(_ hashes: [[UInt8]]) throws(MerkleProofError) {
        for hash in hashes where hash.count != digestByteCount {
            throw .malformedHash(byteCount: hash.count, expected: digestByteCount)
        }
    }

    /// The largest power of two smaller than `count` (count ≥ 2).
    static func splitPoint(_ count: Int) -> Int { 1 << (Int.bitWidth - (count - 1).leadingZeroBitCount - 1) }
}

/// Why a proof does not prove what it claims. Never a partial success: any of these is a refusal.
public enum MerkleProofError: Error, Equatable, CustomStringConvertible {
    case indexBeyondSize(index: Int, treeSize: Int)
    case sizesOutOfOrder(oldSize: Int, newSize: Int)
    case emptyOldTree
    case malformedHash(byteCount: Int, expected: Int)
    /// More or fewer hashes than a tree of this size needs.
    case wrongProofLength
    /// The path leads to another root: another leaf, another tree, or a forged hash.
    case rootMismatch

    public var description: String {
        switch self {
        case .indexBeyondSize(let index, let size): "leaf index \(index) is not in a tree of \(size) leaves"
        case .sizesOutOfOrder(let old, let new): "tree size \(old) cannot be a prefix of tree size \(new)"
        case .emptyOldTree: "a consistency proof from the empty tree proves nothing"
        case .malformedHash(let count, let expected): "a hash of \(count) bytes where \(expected) are expected"
        case .wrongProofLength: "the proof has the wrong number of hashes for these tree sizes"
        case .rootMismatch: "the proof does not lead to the given root"
        }
    }
}
