/// Where a transaction stands (docs/LEDGER.md, "Endorsements"): pending until its policy holds
/// over valid endorsements, then committed, unless an endorser disputed it.
public enum LedgerTransactionStatus: String, Sendable, Hashable, CaseIterable {
    case pending
    case committed
    case disputed
}

/// Everything a tenant's ledger holds, as stored: what the verifier reads, whether the Store loaded
/// it from PostgreSQL or a reader took it from an exported bundle's files. Every field is what was
/// stored, unchecked: claims (hashes, statuses) are what the verifier recomputes, so nothing here
/// is trusted because of where it came from.
///
/// A large ledger need not be one value: `LedgerVerifier` takes keys first, then transactions and
/// blocks in chunks; this value is the whole ledger at once, for callers that have it.
public struct LedgerEvidence: Sendable, Hashable {
    public var tenant: TenantCode
    /// Every key row of the tenant, the orderer's included.
    public var keys: [Key]
    /// Every transaction row, in any order.
    public var transactions: [Transaction]
    /// Every block row, in stored order (by number).
    public var blocks: [Block]

    public init(tenant: TenantCode, keys: [Key], transactions: [Transaction], blocks: [Block]) {
        (self.tenant, self.keys, self.transactions, self.blocks) = (tenant, keys, transactions, blocks)
    }

    /// One version of an owner's key.
    public struct Key: Sendable, Hashable {
        public var owner: KeyOwner
        public var version: Int64
        public var custody: KeyCustody
        /// SubjectPublicKeyInfo DER, as stored; the verifier parses it.
        public var publicKeyDER: [UInt8]
        public var validFrom: UTCMicros
        public var revocation: Revocation?

        public init(
            owner: KeyOwner, version: Int64, custody: KeyCustody, publicKeyDER: [UInt8], validFrom: UTCMicros,
            revocation: Revocation?
        ) {
            (self.owner, self.version, self.custody, self.publicKeyDER) = (owner, version, custody, publicKeyDER)
            (self.validFrom, self.revocation) = (validFrom, revocation)
        }

        public struct Revocation: Sendable, Hashable {
            public var revokedAt: UTCMicros
            public var reason: String

            public init(revokedAt: UTCMicros, reason: String) { (self.revokedAt, self.reason) = (revokedAt, reason) }
        }

        /// The `key.registered` event that evidences this row.
        public var registration: KeyEvent.Registered {
            KeyEvent.Registered(
                owner: owner, version: version, custody: custody, publicKeyDER: publicKeyDER, validFrom: validFrom)
        }

        /// The `key.revoked` event that evidences this row's revocation, if it has one.
        public var revocationEvent: KeyEvent.Revoked? {
            revocation.map { KeyEvent.Revoked(owner: owner, version: version, revokedAt: $0.revokedAt, reason: $0.reason) }
        }
    }

    /// One transaction row with its endorsements and its dispute.
    public struct Transaction: Sendable, Hashable {
        /// The hash the row is stored (and sealed) under.
        public var claimedHash: LedgerHash
        public var canonicalBytes: [UInt8]
        public var claimedStatus: LedgerTransactionStatus
        public var endorsements: [Endorsement]
        public var dispute: Dispute?
        /// The preimages (salt ‖ value) of the private values it carries: none unless exported
        /// `--with-private`.
        public var privateValues: [LedgerPrivateField: [UInt8]]

        public init(
            claimedHash: LedgerHash, canonicalBytes: [UInt8], claimedStatus: LedgerTransactionStatus, endorsements: [Endorsement],
            dispute: Dispute?, privateValues: [LedgerPrivateField: [UInt8]] = [:]
        ) {
            (self.claimedHash, self.canonicalBytes, self.claimedStatus) = (claimedHash, canonicalBytes, claimedStatus)
            (self.endorsements, self.dispute, self.privateValues) = (endorsements, dispute, privateValues)
        }
    }

    /// An org's SM2 signature over a transaction's canonical bytes, with the key version it names.
    public struct Endorsement: Sendable, Hashable {
        public var org: OrgCode
        public var keyVersion: Int64
        /// `SEQUENCE { r INTEGER, s INTEGER }`, as stored.
        public var signatureDER: [UInt8]

        public init(org: OrgCode, keyVersion: Int64, signatureDER: [UInt8]) {
            (self.org, self.keyVersion, self.signatureDER) = (org, keyVersion, signatureDER)
        }
    }

    /// An endorser's refusal of a transaction, which stops it.
    public struct Dispute: Sendable, Hashable {
        public var org: OrgCode
        public var reason: String

        public init(org: OrgCode, reason: String) { (self.org, self.reason) = (org, reason) }
    }

    /// Where a ledger read from a later block on continues (an export `--from-block`): the block
    /// before the first one read, its transaction list left out, and the log's right edge after
    /// it, so the blocks that follow link to it and extend its log.
    public struct Anchor: Sendable, Hashable {
        public var block: Block
        /// The roots of the log's perfect subtrees after `block`, largest first (`MerkleFrontier`).
        public var frontier: [[UInt8]]

        public init(block: Block, frontier: [[UInt8]]) { (self.block, self.frontier) = (block, frontier) }
    }

    /// One block row: the header as stored, the orderer's signature, and the hashes it lists.
    public struct Block: Sendable, Hashable {
        public var number: Int64
        public var headerBytes: [UInt8]
        public var claimedHash: LedgerHash
        public var ordererKeyVersion: Int64
        public var ordererSignatureDER: [UInt8]
        /// The transactions the block holds, in block order.
        public var transactionHashes: [LedgerHash]

        public init(
            number: Int64, headerBytes: [UInt8], claimedHash: LedgerHash, ordererKeyVersion: Int64, ordererSignatureDER: [UInt8],
            transactionHashes: [LedgerHash]
        ) {
            (self.number, self.headerBytes, self.claimedHash) = (number, headerBytes, claimedHash)
            (self.ordererKeyVersion, self.ordererSignatureDER, self.transactionHashes) = (
                ordererKeyVersion, ordererSignatureDER, transactionHashes
            )
        }
    }
}
