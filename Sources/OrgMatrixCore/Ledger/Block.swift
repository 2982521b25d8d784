import SMCrypto

/// The right edge of an RFC 9162 tree: the roots of its perfect subtrees, largest first. Enough
/// to append leaves and to give the tree hash of everything so far, so the sealer carries a
/// tenant's log from block to block without reading every earlier transaction.
public struct MerkleFrontier: Sendable {
    public let hashing: MerkleHashing.Kind
    /// (height, subtree root): a subtree of height h holds 2^h leaves.
    public private(set) var subtrees: [(height: Int, root: [UInt8])]
    public private(set) var size: Int

    public init(_ hashing: MerkleHashing.Kind = .sm3) {
        self.hashing = hashing
        subtrees = []
        size = 0
    }

    /// The frontier of a tree of `size` leaves from its perfect subtrees' roots, largest first:
    /// one per bit set in `size` (how an exported bundle from a later block on carries its log).
    /// Nil when their count or a hash's length is not that.
    public init?(_ hashing: MerkleHashing.Kind = .sm3, size: Int, roots: [[UInt8]]) {
        let heights = (0..<(Int.bitWidth - 1)).reversed().filter { size >> $0 & 1 == 1 }
        guard size >= 0, heights.count == roots.count, roots.allSatisfy({ $0.count == hashing.hashing.digestByteCount }) else {
            return nil
        }
        self.hashing = hashing
        subtrees = Array(zip(heights, roots)).map { (height: $0.0, root: $0.1) }
        self.size = size
    }

    /// Appends one leaf given as its leaf hash (`0x00 ‖ data`, hashed).
    public mutating func append(leafHash: [UInt8]) {
        let hasher = hashing.hashing
        subtrees.append((0, leafHash))
        size += 1
        while subtrees.count >= 2, subtrees[subtrees.count - 1].height == subtrees[subtrees.count - 2].height {
            let right = subtrees.removeLast()
            let left = subtrees.removeLast()
            subtrees.append((left.height + 1, hasher.nodeHash(left.root, right.root)))
        }
    }

    /// MTH of every leaf appended so far.
    public var rootHash: [UInt8] {
        let hasher = hashing.hashing
        guard var root = subtrees.last?.root else { return hasher.hash([]) }
        for subtree in subtrees.dropLast().reversed() { root = hasher.nodeHash(subtree.root, root) }
        return root
    }
}

extension MerkleHashing {
    /// A hash the ledger can name, so a frontier is a plain value.
    public enum Kind: Sendable, Hashable {
        case sm3
        case sha256

        public var hashing: MerkleHashing {
            switch self {
            case .sm3: .sm3
            case .sha256: .sha256
            }
        }
    }

    public static let sha256 = MerkleHashing(digestByteCount: SHA256.digestByteCount) { SHA256.hash($0) }
}

/// A block header (docs/LEDGER.md, "Blocks"). Its canonical bytes are what the orderer signs and
/// what `hash` (the block hash) digests.
public struct BlockHeader: Sendable, Hashable {
    public static let formatVersion: Int64 = 1

    public let tenant: TenantCode
    public let number: Int64
    public let previousHash: LedgerHash
    /// RFC 9162 tree hash over this block's transaction hashes, with SM3.
    public let dataHash: LedgerHash
    public let transactionCount: Int64
    /// The tree over every transaction of the tenant sealed so far, this block's included.
    public let logSize: Int64
    public let logRoot: LedgerHash
    public let sealedAt: UTCMicros

    public init(
        tenant: TenantCode, number: Int64, previousHash: LedgerHash, dataHash: LedgerHash, transactionCount: Int64, logSize: Int64,
        logRoot: LedgerHash, sealedAt: UTCMicros
    ) {
        (self.tenant, self.number, self.previousHash, self.dataHash) = (tenant, number, previousHash, dataHash)
        (self.transactionCount, self.logSize, self.logRoot, self.sealedAt) = (transactionCount, logSize, logRoot, sealedAt)
    }

    /// The block after `previous` (nil for block 0) holding `transactions`, in order; `log` is the
    /// tenant's log before this block and comes back with the block's transactions appended. A
    /// log kept with a hash other than a 32-byte one gives no ledger root and is refused.
    public static func seal(
        tenant: TenantCode, after previous: BlockHeader?, transactions: [LedgerHash], log: inout MerkleFrontier, sealedAt: UTCMicros
    ) throws(LedgerDocumentError) -> BlockHeader {
        let leaves = transactions.map { MerkleHashing.sm3.leafHash($0.bytes) }
        for leaf in leaves { log.append(leafHash: leaf) }
        return BlockHeader(
            tenant: tenant, number: previous.map { $0.number + 1 } ?? 0, previousHash: previous?.hash ?? .zero,
            dataHash: try LedgerHash(MerkleHashing.sm3.rootHash(leaves)), transactionCount: Int64(transactions.count),
            logSize: Int64(log.size), logRoot: try LedgerHash(log.rootHash), sealedAt: sealedAt)
    }

    public var json: JSONValue {
        .object([
            "version": .integer(Self.formatVersion),
            "tenant": .string(tenant.rawValue),
            "number": .integer(number),
            "prev_hash": .string(previousHash.hex),
            "data_hash": .string(dataHash.hex),
            "tx_count": .integer(transactionCount),
            "log_size": .integer(logSize),
            "log_root": .string(logRoot.hex),
            "sealed_at": .string(sealedAt.description),
        ])
    }

    public var canonicalBytes: [UInt8] { CanonicalJSON.encode(json) }

    public var hash: LedgerHash { .of(canonicalBytes) }

    /// The header `bytes` hold, which must be exactly their canonical form.
    public init(canonicalBytes bytes: [UInt8]) throws(LedgerDocumentError) {
        let value = try CanonicalJSON.document(bytes)
        let fields = try LedgerFields(
            value, expected: ["version", "tenant", "number", "prev_hash", "data_hash", "tx_count", "log_size", "log_root", "sealed_at"])
        guard try fields.integer("version") == Self.formatVersion else {
            throw .malformed(field: "version", reason: "must be \(Self.formatVersion)")
        }
        let tenantText = try fields.string("tenant")
        guard let tenant = try? TenantCode(tenantText) else { throw .malformed(field: "tenant", reason: "\(tenantText) is not a tenant code") }
        let (number, count, size) = (try fields.integer("number"), try fields.integer("tx_count"), try fields.integer("log_size"))
        for (field, value) in [("number", number), ("tx_count", count), ("log_size", size)] where value < 0 {
            throw .malformed(field: field, reason: "must not be negative")
        }
        self.init(
            tenant: tenant, number: number, previousHash: try fields.hash("prev_hash"), dataHash: try fields.hash("data_hash"),
            transactionCount: count, logSize: size, logRoot: try fields.hash("log_root"), sealedAt: try fields.moment("sealed_at"))
    }
}
