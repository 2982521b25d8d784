/// The columns a ledger row keeps beside its document (Schema/0013): the Store reads, filters and
/// joins by them (a transaction's type, time, transfer and endorser orgs; a block's number, link,
/// sizes, time and each entry's log position), so they are claims like a hash, and a column that
/// says otherwise than the signed bytes is named. Pure: the Store hands in what it read.
public enum LedgerStoredColumns {
    /// What a `ledger_transactions` row stores beside `canonical`.
    public struct Transaction: Sendable, Hashable {
        /// The hash the row claims (failures are filed under it).
        public var claimedHash: LedgerHash
        /// `tx_type`, as stored.
        public var type: String
        /// `at`, in integer microseconds since the epoch.
        public var atMicros: Int64
        /// The codes of the orgs `endorser_org_ids` lists (an id without an org as `org id N`).
        public var endorserOrgs: Set<String>

        public init(claimedHash: LedgerHash, type: String, atMicros: Int64, endorserOrgs: Set<String>) {
            (self.claimedHash, self.type, self.atMicros, self.endorserOrgs) = (claimedHash, type, atMicros, endorserOrgs)
        }
    }

    /// What a `ledger_blocks` row and its entries store beside `header`.
    public struct Block: Sendable, Hashable {
        public var number: Int64
        public var previousHash: LedgerHash
        public var transactionCount: Int64
        public var logSize: Int64
        /// `sealed_at`, in integer microseconds since the epoch.
        public var sealedAtMicros: Int64
        /// Each entry's `log_index`, in position order.
        public var logIndexes: [Int64]

        public init(
            number: Int64, previousHash: LedgerHash, transactionCount: Int64, logSize: Int64, sealedAtMicros: Int64,
            logIndexes: [Int64]
        ) {
            (self.number, self.previousHash, self.transactionCount) = (number, previousHash, transactionCount)
            (self.logSize, self.sealedAtMicros, self.logIndexes) = (logSize, sealedAtMicros, logIndexes)
        }
    }

    /// The columns against the transaction its bytes hold: type, `at`, and the orgs the envelope
    /// names under a role of its policy (who the database lets endorse, dispute and read it).
    public static func failures(_ columns: Transaction, _ transaction: LedgerTransaction) -> [LedgerVerificationFailure] {
        func failure(_ field: String, expected: String, found: String) -> LedgerVerificationFailure {
            LedgerVerificationFailure(
                .transactionRowMismatch, transaction: columns.claimedHash, field: field, expected: expected, found: found)
        }
        var failures: [LedgerVerificationFailure] = []
        if columns.type != transaction.type.rawValue {
            failures.append(failure("tx_type", expected: transaction.type.rawValue, found: columns.type))
        }
        if columns.atMicros != transaction.at.microsecondsSinceEpoch {
            failures.append(
                failure(
                    "at", expected: transaction.at.description,
                    found: UTCMicros(microsecondsSinceEpoch: columns.atMicros).description))
        }
        let roles = transaction.policy.roles
        let named = Set(transaction.endorsers.filter { roles.contains($0.key) }.values.map(\.rawValue))
        if columns.endorserOrgs != named {
            failures.append(failure("endorser_org_ids", expected: listed(named), found: listed(columns.endorserOrgs)))
        }
        return failures
    }

    /// The block row's columns and its entries' log positions against its header: the entry at
    /// position p of a block holds log index log_size − tx_count + p.
    public static func failures(_ columns: Block, _ header: BlockHeader) -> [LedgerVerificationFailure] {
        func failure(_ field: String, expected: String, found: String) -> LedgerVerificationFailure {
            LedgerVerificationFailure(.blockRowMismatch, block: columns.number, field: field, expected: expected, found: found)
        }
        var failures: [LedgerVerificationFailure] = []
        if columns.previousHash != header.previousHash {
            failures.append(failure("prev_hash", expected: header.previousHash.hex, found: columns.previousHash.hex))
        }
        if columns.transactionCount != header.transactionCount {
            failures.append(
                failure("tx_count", expected: String(header.transactionCount), found: String(columns.transactionCount)))
        }
        if columns.logSize != header.logSize {
            failures.append(failure("log_size", expected: String(header.logSize), found: String(columns.logSize)))
        }
        if columns.sealedAtMicros != header.sealedAt.microsecondsSinceEpoch {
            failures.append(
                failure(
                    "sealed_at", expected: header.sealedAt.description,
                    found: UTCMicros(microsecondsSinceEpoch: columns.sealedAtMicros).description))
        }
        let firstIndex = header.logSize - header.transactionCount
        for (position, index) in columns.logIndexes.enumerated() where index != firstIndex + Int64(position) {
            failures.append(
                failure("entries[\(position)].log_index", expected: String(firstIndex + Int64(position)), found: String(index)))
        }
        return failures
    }

    /// `BJ-CW, NORTH`: a set of org codes, sorted, as failures quote it.
    static func listed(_ codes: Set<String>) -> String {
        codes.isEmpty ? "none" : codes.sorted().joined(separator: ", ")
    }
}
