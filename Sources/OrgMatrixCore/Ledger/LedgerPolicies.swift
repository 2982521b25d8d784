/// The endorsement policy of each transaction type for one tenant: the tenant file's, or else
/// the defaults below, which suit a group: a transfer's price is agreed by both warehouses when
/// it ships, its receipt (actual freight, loss) by both again; what HQ decides (true-ups, claim
/// settlements, keys, pricing rules) is HQ's word.
public struct LedgerPolicies: Sendable, Hashable {
    public static let defaults: [LedgerTransactionType: EndorsementPolicy] = [
        .transferDispatched: .all([.role(.sender), .role(.receiver)]),
        .transferReceived: .all([.role(.receiver), .role(.sender)]),
        .transferTruedUp: .role(.hq),
        .claimSettled: .role(.hq),
        .keyRegistered: .role(.hq),
        .keyRevoked: .role(.hq),
        .pricingRulesPublished: .role(.hq),
    ]

    public let overrides: [LedgerTransactionType: EndorsementPolicy]

    public init(overrides: [LedgerTransactionType: EndorsementPolicy] = [:]) { self.overrides = overrides }

    public func policy(for type: LedgerTransactionType) -> EndorsementPolicy { overrides[type] ?? Self.defaults[type]! }
}
