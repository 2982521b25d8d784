/// One thing the evidence does not prove: where (block, transaction, field), what the verifier
/// expected there and what it found. A failure is a finding about the evidence, not an error of
/// the verifier: the verifier goes on and names every other one.
public struct LedgerVerificationFailure: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// What kind of failure, for callers and tests to match on; `field`, `expected` and `found`
    /// say the rest in words.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        // Documents (transactions and block headers).
        /// The bytes are not RFC 8785 canonical JSON, or not in canonical form.
        case notCanonical = "not-canonical"
        /// Canonical JSON, but not a document of its kind (a field missing, of the wrong type, unknown).
        case malformedDocument = "malformed-document"
        case tenantMismatch = "tenant-mismatch"

        // Transactions.
        /// SM3 of the canonical bytes is not the hash the row claims.
        case transactionHashMismatch = "transaction-hash-mismatch"
        /// The same canonical bytes stored twice.
        case duplicateTransaction = "duplicate-transaction"
        /// An endorsement by an org the envelope does not name under a role its policy names.
        case endorserNotNamed = "endorser-not-named"
        case duplicateEndorsement = "duplicate-endorsement"
        /// The stored status is not the one the valid endorsements and the dispute give.
        case statusMismatch = "status-mismatch"
        /// A dispute by an org the transaction does not name as an endorser.
        case disputeByUnnamedOrg = "dispute-by-unnamed-org"

        // Signatures (endorsements and the orderer's).
        /// No key row for that owner and version.
        case keyUnknown = "key-unknown"
        /// The key's `valid_from` is after the moment it signed for.
        case keyNotYetValid = "key-not-yet-valid"
        /// The key was revoked at or before the moment it signed for.
        case keyRevoked = "key-revoked"
        /// The owner's next key version had started by the moment it signed for.
        case keySuperseded = "key-superseded"
        /// The signature is not DER `SEQUENCE { r, s }` with r and s in [1, n−1].
        case signatureMalformed = "signature-malformed"
        /// The signature does not verify (SM2, ID 1234567812345678) over exactly the stored bytes.
        case signatureInvalid = "signature-invalid"

        // Key rows and their events.
        /// The stored public key is not an SM2 SubjectPublicKeyInfo.
        case keyMalformed = "key-malformed"
        /// An owner's versions are not 1, 2, 3, … each once.
        case keyVersionOutOfSequence = "key-version-out-of-sequence"
        /// A version does not start after the version before it.
        case keyValidFromNotIncreasing = "key-valid-from-not-increasing"
        /// No undisputed `key.registered` transaction states exactly this key row.
        case keyNotRegistered = "key-not-registered"
        /// No undisputed `key.revoked` transaction states exactly this revocation.
        case keyRevocationNotRecorded = "key-revocation-not-recorded"
        /// A transaction body that is not the body of its type.
        case bodyMalformed = "body-malformed"
        /// A key event about a key version no key row has.
        case keyEventWithoutKey = "key-event-without-key"
        /// A key event that states a field otherwise than the key row.
        case keyEventMismatch = "key-event-mismatch"
        /// A key registered as valid from before the transaction that registers it: it would make
        /// signatures made before anyone could know the key count.
        case keyBackdated = "key-backdated"

        // Pricing and transfer figures (`TransferFigureChecks`).
        /// A dispatch names a rule version no undisputed `pricing.rules_published` transaction
        /// published at or before the transfer was priced (its `priced_at`).
        case rulesVersionNotPublished = "rules-version-not-published"
        /// The rule version named was not the one in force when the transfer was priced: not yet
        /// effective, or superseded by a later published version effective by then.
        case rulesVersionNotInForce = "rules-version-not-in-force"
        /// A dispatch priced (`priced_at`) after its own `at`.
        case pricedAfterDispatch = "priced-after-dispatch"
        /// A rule version published a second time (the first publication is the one used).
        case rulesVersionRepublished = "rules-version-republished"
        /// A dispatched line's price component (amount or words) or total is not what the
        /// pricing engine gives for its goods, lane and rule version.
        case priceMismatch = "price-mismatch"
        /// A dispatch's estimate is not the sum of its lines' recomputed totals.
        case estimateMismatch = "estimate-mismatch"
        /// A dispatched line's issue value or unit cost is not the moving average of the balance it states.
        case issueMismatch = "issue-mismatch"
        /// A receipt's figure is not what `TransferRules.receive` gives for its dispatch and report.
        case receiptMismatch = "receipt-mismatch"
        /// A true-up's figure is not actual − estimate of its transfer.
        case trueUpMismatch = "true-up-mismatch"
        /// A claim settlement's value or unrecovered amount is not its receipt's.
        case claimSettlementMismatch = "claim-settlement-mismatch"
        /// The transfer formulas refuse the inputs a body records (an unknown category, less on
        /// hand than sent, more lost than sent, an amount beyond its bound).
        case transferInputsRefused = "transfer-inputs-refused"
        /// A transfer event whose predecessor is not before it: a receipt without its dispatch,
        /// a true-up or a claim settlement without its receipt.
        case transferEventWithoutPredecessor = "transfer-event-without-predecessor"
        /// A transfer event its transfer already had (each happens once).
        case transferEventRepeated = "transfer-event-repeated"
        /// An org the envelope names as sender or receiver that is not the transfer's.
        case transferPartyMismatch = "transfer-party-mismatch"
        /// A true-up of a receipt that was not flagged.
        case trueUpNotFlagged = "true-up-not-flagged"
        /// A claim settled on a receipt that claimed nothing.
        case claimSettledWithoutClaim = "claim-settled-without-claim"
        /// A claim settlement that recovered less than 0 or more than the claim's value.
        case recoveryOutsideClaim = "recovery-outside-claim"

        // Blocks.
        /// Block rows not numbered 0, 1, 2, … in stored order.
        case blockOutOfSequence = "block-out-of-sequence"
        /// A column of the block row (its number, prev_hash, tx_count, log_size, sealed_at, an
        /// entry's log_index) is not what its header says.
        case blockRowMismatch = "block-row-mismatch"
        /// SM3 of the header bytes is not the hash the row claims.
        case blockHashMismatch = "block-hash-mismatch"
        /// `prev_hash` is not SM3 of the previous block's header (64 zeros for block 0).
        case previousHashMismatch = "previous-hash-mismatch"
        /// `data_hash` is not the tree hash of the hashes the block lists.
        case dataHashMismatch = "data-hash-mismatch"
        /// `tx_count` is not the number of hashes the block lists.
        case transactionCountMismatch = "transaction-count-mismatch"
        /// `log_size` is not the number of transactions listed by this block and every one before it.
        case logSizeMismatch = "log-size-mismatch"
        /// `log_root` is not the tree hash over every transaction listed so far, in block order.
        case logRootMismatch = "log-root-mismatch"
        /// `sealed_at` before the previous block's.
        case sealedBeforePrevious = "sealed-before-previous"
        /// A listed hash that no stored transaction's bytes hash to.
        case sealedTransactionMissing = "sealed-transaction-missing"
        /// A listed transaction that the evidence does not show committed.
        case sealedTransactionNotCommitted = "sealed-transaction-not-committed"
        /// A transaction listed a second time, in this block or an earlier one.
        case transactionSealedTwice = "transaction-sealed-twice"
        /// A listed transaction whose `at` is after the block's `sealed_at`.
        case sealedBeforeTransaction = "sealed-before-transaction"

        // Stored columns and the books (LedgerStoredColumns.swift, BooksReconciliation.swift).
        /// A column a transaction row keeps beside its bytes (type, at, transfer, endorser orgs)
        /// says otherwise than the bytes. (A block row's columns are `blockRowMismatch`.)
        case transactionRowMismatch = "transaction-row-mismatch"
        /// A posted transfer's figure (transfers, transfer_lines) is not what its signed transaction says.
        case bookMismatch = "book-mismatch"
        /// A transfer step the rows show posted, with no transaction evidencing it.
        case stepWithoutTransaction = "step-without-transaction"
        /// A transfer transaction whose step the rows do not show (or a second one for one step).
        case transactionWithoutStep = "transaction-without-step"

        // Checkpoints (Checkpoint.swift) and exported bundles (LedgerBundle.swift).
        /// A checkpoint's bytes are not a canonical checkpoint.
        case checkpointMalformed = "checkpoint-malformed"
        /// Checkpoints not numbered 0, 1, …, or one whose `previous_log_size` is not the previous one's `log_size`.
        case checkpointOutOfSequence = "checkpoint-out-of-sequence"
        /// A checkpoint whose size, root or block hash are not those of the block it names.
        case checkpointMismatch = "checkpoint-mismatch"
        /// A checkpoint whose signers are not every org with a key valid at its `at`.
        case checkpointSignersWrong = "checkpoint-signers-wrong"
        /// A checkpoint signature by an org it does not name as a signer, or a second one by a signer.
        case checkpointSignerNotNamed = "checkpoint-signer-not-named"
        /// No valid consistency proof from the previous checkpoint's tree to this one's.
        case checkpointInconsistent = "checkpoint-inconsistent"
        /// A bundle read from a later block on: the log's right edge it carries does not give
        /// the log root its anchor block (the block before its first) states.
        case anchorFrontierMismatch = "anchor-frontier-mismatch"
        /// A private value the transaction does not commit to, or whose SM3 is not its commitment.
        case privateValueMismatch = "private-value-mismatch"
        /// A private value that is not a salt and a canonical value of its field.
        case privateValueMalformed = "private-value-malformed"
        /// A file of a bundle that is missing, unlisted, or not what the manifest says.
        case bundleFileMismatch = "bundle-file-mismatch"
        /// A file of a bundle that is not in its format (a name, a JSON file, a proof line).
        case bundleFileMalformed = "bundle-file-malformed"
        /// A bundle's rule index that does not list exactly the published rule versions.
        case bundleRulesMismatch = "bundle-rules-mismatch"
    }

    public let kind: Kind
    /// The block row the failure is in (its stored number), if it is about a block.
    public let blockNumber: Int64?
    /// The transaction (the hash its row claims, or the hash a block lists), if it is about one.
    public let transactionHash: LedgerHash?
    /// The field, as a path: `prev_hash`, `endorsements[BJ-CW].signature`, `keys[HQ/2].valid_from`.
    public let field: String
    public let expected: String
    public let found: String

    public init(
        _ kind: Kind, block blockNumber: Int64? = nil, transaction transactionHash: LedgerHash? = nil, field: String,
        expected: String, found: String
    ) {
        (self.kind, self.blockNumber, self.transactionHash) = (kind, blockNumber, transactionHash)
        (self.field, self.expected, self.found) = (field, expected, found)
    }

    /// Key rows first, then transactions by hash, then blocks by number; within one place, by
    /// kind and field. A report is sorted so that it is the same however the work was split.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        func key(_ failure: Self) -> (Int64, String, String, String, String, String) {
            (
                failure.blockNumber ?? -1, failure.transactionHash?.hex ?? "", failure.kind.rawValue, failure.field,
                failure.expected, failure.found
            )
        }
        return key(lhs) < key(rhs)
    }

    public var description: String {
        let place = [blockNumber.map { "block \($0)" }, transactionHash.map { "tx \($0.hex)" }].compactMap(\.self)
        return (place.isEmpty ? "" : place.joined(separator: ", ") + ": ")
            + "\(field): expected \(expected), found \(found) [\(kind.rawValue)]"
    }
}

/// What the verifier found: every failure, sorted, and how much evidence it looked at.
public struct LedgerVerificationReport: Sendable, Hashable {
    public struct Counts: Sendable, Hashable {
        public var transactions = 0
        /// By the status the evidence gives, not the stored one.
        public var committed = 0
        public var pending = 0
        public var disputed = 0
        public var blocks = 0
        /// Endorsements of readable transactions, each checked for its org, key and signature.
        public var endorsementsChecked = 0
        /// Private values a bundle exported `--with-private` carried, each checked against its commitment.
        public var privateValuesChecked = 0
        /// Transaction hashes listed by blocks.
        public var sealedTransactions = 0

        public init() {}
    }

    public let failures: [LedgerVerificationFailure]
    public let counts: Counts

    public init(failures: [LedgerVerificationFailure], counts: Counts) {
        self.failures = failures.sorted()
        self.counts = counts
    }

    /// Whether the evidence proves everything the verifier checks.
    public var isClean: Bool { failures.isEmpty }
}
