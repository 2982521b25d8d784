import Foundation
import OrgMatrixCore
import Yams

/// What is wrong in a seed file, and where: `Seeds/dairy-demo.yaml:17: purchases[2].lines[0].quantity: <reason>`.
public struct SeedProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public let file: String
    /// 1-based, as an editor counts.
    public let line: Int
    /// The path to the value at fault, as the file nests it (`transfers[3].received.lost.MILK-FRESH`).
    public let field: String
    public let reason: String

    public init(file: String, line: Int, field: String, reason: String) {
        (self.file, self.line, self.field, self.reason) = (file, line, field, reason)
    }

    public var description: String { "\(file):\(line): \(field): \(reason)" }
}

/// Every problem found before anything is posted, so a file can be fixed in one pass; in the
/// order of their lines.
public struct SeedInvalid: Error, Sendable, CustomStringConvertible {
    public let problems: [SeedProblem]
    public init(_ problems: [SeedProblem]) {
        self.problems = problems.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(
            \.element)
    }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// A seed file (`Seeds/dairy-demo.yaml`): a tenant's demo business data as a journal of dated
/// entries, each by a named principal — items, opening stock, purchases, transfers (created,
/// dispatched, received with what arrived) and sales — checked whole before anything is posted,
/// then posted through the sandboxed Store calls (`Database.loadSeed`).
///
/// The database stamps every posting with the time it is loaded (it refuses backdated rows, for
/// seeds as for the API), so an entry's date orders the postings and is not stored: moving-average
/// costs depend on that order.
public struct SeedFile: Sendable {
    /// Where an entry is in the file, and the line of each value inside it (paths relative to
    /// the entry, `lines[1].quantity`), so a refusal naming a field can say where that field is.
    public struct Place: Sendable, Hashable {
        public let file: String
        public let path: String
        public let line: Int
        let lines: [String: Int]

        /// The problem `reason` with the value at `field` (relative, as the Store names fields), at
        /// its line; a field the entry does not hold (`lines` of a posting) falls back to its
        /// nearest enclosing value.
        public func problem(_ reason: String, field: String? = nil) -> SeedProblem {
            guard let field, !field.isEmpty else { return SeedProblem(file: file, line: line, field: path, reason: reason) }
            var probe = field
            while !probe.isEmpty, lines[probe] == nil {
                probe = String(probe[..<(probe.lastIndex(where: { $0 == "." || $0 == "[" }) ?? probe.startIndex)])
            }
            return SeedProblem(file: file, line: lines[probe] ?? line, field: "\(path).\(field)", reason: reason)
        }
    }

    /// What an entry (or a transfer's step) posts.
    public enum Action: Sendable {
        case createItem(Item)
        /// A stock count of the org's opening stock, valued at the lines' unit costs.
        case openingStock(reason: String, lines: [CountLine])
        case purchase(supplier: String, lines: [PostingLine])
        /// `transfer` numbers the transfer in the file (its index in `transfers`), so later steps find it.
        case createTransfer(transfer: Int, to: OrgCode, lines: [PostingLine])
        /// With the carrier's private values, if the seed names them (`dispatched.carrier`).
        case dispatchTransfer(transfer: Int, privateValues: [LedgerPrivateField: JSONValue])
        case receiveTransfer(transfer: Int, report: ReceiptReport)
        case sale(customer: String, settlementOrg: String?, lines: [PostingLine])
    }

    public struct Step: Sendable {
        public let date: Date
        public let principal: String
        /// The line of the entry's `by`.
        public let principalLine: Int
        public let action: Action
        public let place: Place
    }

    public let file: String
    public let tenant: TenantCode
    /// Every step in posting order: by date; on one date, items, then opening stock, purchases,
    /// transfers' steps and sales; within a section in file order.
    public let steps: [Step]

    /// Reads and checks a whole seed file; every problem names file, line and field.
    public static func parse(yaml: String, file: String) throws(SeedInvalid) -> SeedFile {
        var reader = MarkedReader(file: file)
        guard let root = reader.document(yaml) else { throw SeedInvalid(reader.problems) }
        var parser = SeedParser(reader: reader)
        let tenant = parser.parse(root)
        guard let tenant, parser.reader.problems.isEmpty else { throw SeedInvalid(parser.reader.problems) }
        return SeedFile(file: file, tenant: tenant, steps: parser.orderedSteps)
    }

    /// The API key of every principal the file names, from a keys file's `name → key`; a
    /// principal without a key, or a key of another tenant, is a problem at its first `by`.
    public func keys(from keyFile: [String: String], keysFile: String) throws(SeedInvalid) -> [String: APIKey] {
        var keys: [String: APIKey] = [:]
        var problems: [SeedProblem] = []
        var seen: Set<String> = []
        for step in steps where seen.insert(step.principal).inserted {
            func problem(_ reason: String) -> SeedProblem {
                SeedProblem(
                    file: file, line: step.principalLine, field: "\(step.place.path).by", reason: "\(step.principal) \(reason)")
            }
            guard let text = keyFile[step.principal] else {
                problems.append(problem("has no key in \(keysFile)"))
                continue
            }
            guard let key = APIKey(text) else {
                problems.append(problem("has something other than an API key in \(keysFile)"))
                continue
            }
            guard key.tenant == tenant else {
                problems.append(problem("has a key of tenant \(key.tenant) in \(keysFile), and this file seeds tenant \(tenant)"))
                continue
            }
            keys[step.principal] = key
        }
        guard problems.isEmpty else { throw SeedInvalid(problems) }
        return keys
    }
}

/// The parameters of `orgmatrix seed generate` (`Seeds/generated.yaml`): a benchmark-scale
/// tenant made reproducibly from a fixed seed.
public struct GeneratorParameters: Sendable, Hashable {
    public static let orgsRange: ClosedRange<Int> = 2...100_000
    public static let itemsRange: ClosedRange<Int> = 1...100_000
    public static let movesRange: ClosedRange<Int> = 0...50_000_000
    public static let seedRange: ClosedRange<Int> = 0...1_000_000

    public var tenant: TenantCode
    /// Physical warehouses (plus HQ and one sales region per 25 warehouses).
    public var orgs: Int
    public var items: Int
    /// Stock moves: purchase receipts and sales, in equal parts.
    public var moves: Int
    /// Seeds the pseudo-random numbers: the same parameters give the same tenant.
    public var seed: Int

    public init(tenant: TenantCode, orgs: Int, items: Int, moves: Int, seed: Int) {
        (self.tenant, self.orgs, self.items, self.moves, self.seed) = (tenant, orgs, items, moves, seed)
    }

    public static func parse(yaml: String, file: String) throws(SeedInvalid) -> GeneratorParameters {
        var reader = MarkedReader(file: file)
        guard let root = reader.document(yaml),
            let fields = reader.fields(root, "", required: ["tenant", "orgs", "items", "moves", "seed"])
        else { throw SeedInvalid(reader.problems) }
        let tenant = reader.tenantCode(fields["tenant"]!, "tenant")
        let orgs = reader.integer(fields["orgs"]!, "orgs", in: orgsRange)
        let items = reader.integer(fields["items"]!, "items", in: itemsRange)
        let moves = reader.integer(fields["moves"]!, "moves", in: movesRange)
        let seed = reader.integer(fields["seed"]!, "seed", in: seedRange)
        guard let tenant, let orgs, let items, let moves, let seed, reader.problems.isEmpty else {
            throw SeedInvalid(reader.problems)
        }
        return GeneratorParameters(tenant: tenant, orgs: Int(orgs), items: Int(items), moves: Int(moves), seed: Int(seed))
    }
}

// MARK: - the seed file's sections

/// Turns the document's sections into steps, collecting every problem.
private struct SeedParser {
    var reader: MarkedReader
    private var items: [String: Item] = [:]
    /// Items listed with a problem: lines naming them say nothing more.
    private var faultyItems: Set<String> = []
    private var steps: [(date: Date, rank: Int, index: Int, step: SeedFile.Step)] = []

    init(reader: MarkedReader) { self.reader = reader }

    /// The posting order of sections on one date.
    private static let sections = ["items", "openingStock", "purchases", "transfers", "sales"]

    /// The steps by date; on one date by section; within a section in file order.
    var orderedSteps: [SeedFile.Step] {
        steps.sorted { ($0.date, $0.rank, $0.index) < ($1.date, $1.rank, $1.index) }.map(\.step)
    }

    /// The tenant code; the steps are collected on the way.
    mutating func parse(_ root: Node) -> TenantCode? {
        guard let document = reader.fields(root, "", required: ["tenant", "items"], optional: Array(Self.sections.dropFirst()))
        else {
            return nil
        }
        let tenant = reader.tenantCode(document["tenant"]!, "tenant")
        for (index, node) in reader.list(document["items"]!, "items", nonEmpty: true).enumerated() {
            item(node, "items[\(index)]")
        }
        func entries(_ section: String) -> [Node] { document[section].map { reader.list($0, section) } ?? [] }
        for (index, node) in entries("openingStock").enumerated() { openingStock(node, "openingStock[\(index)]") }
        for (index, node) in entries("purchases").enumerated() { purchase(node, "purchases[\(index)]") }
        for (index, node) in entries("transfers").enumerated() { transfer(node, index) }
        for (index, node) in entries("sales").enumerated() { sale(node, "sales[\(index)]") }
        return tenant
    }

    /// An entry's (or a transfer step's) date, principal, the line of its `by`, and its place.
    private typealias Entry = (date: Date, by: String, line: Int, place: SeedFile.Place)

    /// An entry's `date` and `by`, checked; nil when either is wrong.
    private mutating func dated(_ fields: MarkedReader.Fields, _ path: String) -> Entry? {
        let date = reader.date(fields["date"]!, "\(path).date")
        let principal = reader.text(fields["by"]!, "\(path).by")
        guard let date, let principal else { return nil }
        return (date, principal, fields["by"]!.line, reader.place(fields.node, path))
    }

    private mutating func add(_ section: String, _ entry: Entry, _ action: SeedFile.Action) {
        let step = SeedFile.Step(
            date: entry.date, principal: entry.by, principalLine: entry.line, action: action, place: entry.place)
        steps.append((entry.date, Self.sections.firstIndex(of: section)!, steps.count, step))
    }

    private mutating func item(_ node: Node, _ path: String) {
        let keys = [
            "code", "name", "baseUnit", "quantityScale", "weightGramsPerUnit", "category", "shelfLifeDays", "taxCode",
            "taxRateBasisPoints",
        ]
        guard let fields = reader.fields(node, path, required: ["date", "by"] + keys) else { return }
        let entry = dated(fields, path)
        let code = reader.text(fields["code"]!, "\(path).code")
        let name = reader.text(fields["name"]!, "\(path).name")
        let baseUnit = reader.text(fields["baseUnit"]!, "\(path).baseUnit")
        let scale = reader.integer(fields["quantityScale"]!, "\(path).quantityScale")
        let weight = reader.integer(fields["weightGramsPerUnit"]!, "\(path).weightGramsPerUnit")
        let category = reader.text(fields["category"]!, "\(path).category")
        let shelfLife = reader.integer(fields["shelfLifeDays"]!, "\(path).shelfLifeDays", in: 0...Int(Int32.max))
        let taxCode = reader.text(fields["taxCode"]!, "\(path).taxCode")
        let taxRate = reader.integer(fields["taxRateBasisPoints"]!, "\(path).taxRateBasisPoints", in: 0...Int(Int32.max))
        guard let code else { return }
        guard let name, let baseUnit, let scale, let weight, let category, let shelfLife, let taxCode, let taxRate else {
            faultyItems.insert(code)
            return
        }
        let item = Item(
            code: code, name: name, baseUnit: baseUnit, quantityScale: scale, weightGramsPerUnit: weight, category: category,
            shelfLifeDays: Int32(shelfLife), taxCode: taxCode, taxRateBasisPoints: Int32(taxRate))
        let problems = item.problems
        for problem in problems { reader.problem(fields[problem.field] ?? node, "\(path).\(problem.field)", problem.reason) }
        guard problems.isEmpty else {
            faultyItems.insert(code)
            return
        }
        guard items[code] == nil else { return reader.problem(fields["code"]!, "\(path).code", "\(code) is listed twice") }
        items[code] = item
        if let entry { add("items", entry, .createItem(item)) }
    }

    private mutating func openingStock(_ node: Node, _ path: String) {
        guard let fields = reader.fields(node, path, required: ["date", "by", "reason", "lines"]) else { return }
        let entry = dated(fields, path)
        let reason = reader.text(fields["reason"]!, "\(path).reason")
        let lines = self.lines(fields["lines"]!, "\(path).lines", unit: "unitCostFen")
        guard let entry, let reason, let lines else { return }
        let counted = lines.map { CountLine(itemCode: $0.itemCode, counted: $0.quantity, unitCostFen: $0.unitFen) }
        add("openingStock", entry, .openingStock(reason: reason, lines: counted))
    }

    private mutating func purchase(_ node: Node, _ path: String) {
        guard let fields = reader.fields(node, path, required: ["date", "by", "supplier", "lines"]) else { return }
        let entry = dated(fields, path)
        let supplier = reader.text(fields["supplier"]!, "\(path).supplier")
        let lines = self.lines(fields["lines"]!, "\(path).lines", unit: "unitCostFen")
        guard let entry, let supplier, let lines else { return }
        add("purchases", entry, .purchase(supplier: supplier, lines: lines))
    }

    private mutating func sale(_ node: Node, _ path: String) {
        guard let fields = reader.fields(node, path, required: ["date", "by", "customer", "lines"], optional: ["settlementOrg"])
        else { return }
        let entry = dated(fields, path)
        let customer = reader.text(fields["customer"]!, "\(path).customer")
        let settlement = fields["settlementOrg"].flatMap { reader.text($0, "\(path).settlementOrg") }
        let lines = self.lines(fields["lines"]!, "\(path).lines", unit: "unitPriceFen")
        guard let entry, let customer, let lines, (settlement == nil) == (fields["settlementOrg"] == nil) else { return }
        add("sales", entry, .sale(customer: customer, settlementOrg: settlement, lines: lines))
    }

    /// A transfer is up to three steps, each with its own date and principal: created (and
    /// priced) by the sender, `dispatched`, and `received` with what arrived.
    private mutating func transfer(_ node: Node, _ index: Int) {
        let path = "transfers[\(index)]"
        guard
            let fields = reader.fields(
                node, path, required: ["date", "by", "to", "lines"], optional: ["dispatched", "received"])
        else {
            return
        }
        let created = dated(fields, path)
        let to = reader.orgCode(fields["to"]!, "\(path).to")
        let lines = self.lines(fields["lines"]!, "\(path).lines", unit: nil)
        var dispatched: Entry?
        var carrier: [LedgerPrivateField: JSONValue] = [:]
        var valid = true
        if let node = fields["dispatched"] {
            let step = reader.fields(node, "\(path).dispatched", required: ["date", "by"], optional: ["carrier"])
            dispatched = step.flatMap { dated($0, "\(path).dispatched") }
            if let node = step?["carrier"] {
                (carrier, valid) = self.carrier(node, "\(path).dispatched.carrier")
            }
            valid = valid && dispatched != nil
        }
        var received: (entry: Entry, report: ReceiptReport)?
        if let node = fields["received"] {
            received = receipt(node, "\(path).received", lines: lines)
            valid = valid && received != nil
            if fields["dispatched"] == nil {
                reader.problem(node, "\(path).received", "a transfer is received only once dispatched: add dispatched")
            }
        }
        if let created, let dispatched, dispatched.date < created.date {
            reader.record(dispatched.place.problem("is before the transfer was created", field: "date"))
        }
        if let dispatched, let received, received.entry.date < dispatched.date {
            reader.record(received.entry.place.problem("is before the transfer was dispatched", field: "date"))
        }
        guard let created, let to, let lines, valid else { return }
        add("transfers", created, .createTransfer(transfer: index, to: to, lines: lines))
        if let dispatched { add("transfers", dispatched, .dispatchTransfer(transfer: index, privateValues: carrier)) }
        if let received { add("transfers", received.entry, .receiveTransfer(transfer: index, report: received.report)) }
    }

    /// `carrier: {name, contractPriceFen}` (either or both): the dispatch's private values, each
    /// held to its field's rule (Core's, as the API holds them).
    private mutating func carrier(_ node: Node, _ path: String) -> ([LedgerPrivateField: JSONValue], Bool) {
        guard let fields = reader.fields(node, path, required: [], optional: ["name", "contractPriceFen"]) else { return ([:], false) }
        var values: [LedgerPrivateField: JSONValue] = [:]
        var valid = true
        for (key, field) in [("name", LedgerPrivateField.carrierName), ("contractPriceFen", .carrierContractPriceFen)] {
            guard let node = fields[key] else { continue }
            let value: JSONValue? =
                switch field.kind {
                case .text: reader.text(node, "\(path).\(key)").map(JSONValue.string)
                case .amountFen: reader.integer(node, "\(path).\(key)").map(JSONValue.integer)
                }
            guard let value else {
                valid = false
                continue
            }
            if let problem = field.problem(with: value) {
                reader.problem(node, "\(path).\(key)", problem)
                valid = false
            }
            values[field] = value
        }
        if valid && values.isEmpty {
            reader.problem(node, path, "must give name, contractPriceFen or both")
            valid = false
        }
        return (values, valid)
    }

    /// `received: {date, by, freightFen, insuranceFen, lost: {ITEM: "quantity"}}`: what arrived.
    private mutating func receipt(
        _ node: Node, _ path: String, lines: [PostingLine]?
    ) -> (entry: Entry, report: ReceiptReport)? {
        guard let fields = reader.fields(node, path, required: ["date", "by", "freightFen", "insuranceFen"], optional: ["lost"])
        else {
            return nil
        }
        let entry = dated(fields, path)
        let freight = reader.integer(fields["freightFen"]!, "\(path).freightFen")
        let insurance = reader.integer(fields["insuranceFen"]!, "\(path).insuranceFen")
        var lost: [String: String]? = [:]
        if let node = fields["lost"] {
            // Lost quantities are checked against the lines, once those are right.
            lost = lines.flatMap { self.lost(in: node, "\(path).lost", lines: $0) }
        }
        guard let entry, let freight, let insurance, let lost else { return nil }
        return (entry, ReceiptReport(freightFen: freight, insuranceFen: insurance, lost: lost))
    }

    /// Lines `{item, quantity[, unit]}` of items in the file, each quantity checked against its item's decimals.
    private mutating func lines(_ node: Node, _ path: String, unit: String?) -> [PostingLine]? {
        guard reader.isList(node) else {
            _ = reader.list(node, path)
            return nil
        }
        let elements = reader.list(node, path, nonEmpty: true)
        var lines: [PostingLine] = []
        for (index, element) in elements.enumerated() {
            let linePath = "\(path)[\(index)]"
            guard let fields = reader.fields(element, linePath, required: ["item", "quantity"] + (unit.map { [$0] } ?? [])) else {
                continue
            }
            let item = knownItem(fields["item"]!, "\(linePath).item")
            let quantity = item.flatMap {
                reader.quantity(fields["quantity"]!, "\(linePath).quantity", item: $0, allowZero: false)
            }
            let unitFen = unit.map { reader.integer(fields[$0]!, "\(linePath).\($0)") } ?? 0
            if let item, let quantity, let unitFen {
                lines.append(PostingLine(itemCode: item.code, quantity: quantity, unitFen: unitFen))
            }
        }
        return lines.count == elements.count && !lines.isEmpty ? lines : nil
    }

    /// `lost: {ITEM: "quantity"}` of items on the transfer's lines.
    private mutating func lost(in node: Node, _ path: String, lines: [PostingLine]) -> [String: String]? {
        guard let pairs = reader.pairs(node, path) else { return nil }
        var lost: [String: String] = [:]
        for (code, value) in pairs {
            let field = "\(path).\(code)"
            guard let item = items[code], lines.contains(where: { $0.itemCode == code }) else {
                reader.problem(value, field, "\(code) is not on this transfer's lines")
                continue
            }
            if let quantity = reader.quantity(value, field, item: item, allowZero: true) { lost[code] = quantity }
        }
        return lost.count == pairs.count ? lost : nil
    }

    private mutating func knownItem(_ node: Node, _ path: String) -> Item? {
        guard let code = reader.text(node, path) else { return nil }
        guard let item = items[code] else {
            if !faultyItems.contains(code) { reader.problem(node, path, "no item \(code) in this file's items") }
            return nil
        }
        return item
    }
}

// MARK: - reading YAML with lines

/// Reads a YAML document node by node, keeping each node's line (Yams' `Node.mark`), so that
/// every problem names file, line and field. Problems are collected, not thrown: a file is
/// fixed in one pass.
struct MarkedReader {
    struct Fields {
        let node: Node
        let values: [String: Node]
        subscript(key: String) -> Node? { values[key] }
    }

    let file: String
    private(set) var problems: [SeedProblem] = []

    init(file: String) { self.file = file }

    mutating func problem(_ node: Node, _ field: String, _ reason: String) {
        problems.append(SeedProblem(file: file, line: node.line, field: field.isEmpty ? "file" : field, reason: reason))
    }

    mutating func record(_ problem: SeedProblem) { problems.append(problem) }

    /// The one document of `yaml`, or nil with a problem at the line YAML stopped at.
    mutating func document(_ yaml: String) -> Node? {
        do {
            guard let root = try Yams.compose(yaml: yaml) else {
                problems.append(SeedProblem(file: file, line: 1, field: "file", reason: "is empty"))
                return nil
            }
            return root
        } catch let error as YamlError {
            let (line, reason): (Int, String) =
                switch error {
                case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                    .composer(_, let problem, let mark, _):
                    (mark.line, "is not valid YAML: \(problem)")
                case .duplicatedKeysInMapping(let duplicates, let context):
                    (context.mark.line, "repeats the key \(duplicates.joined(separator: ", ")) in one mapping")
                default:
                    (1, "is not valid YAML: \(error)")
                }
            problems.append(SeedProblem(file: file, line: line, field: "file", reason: reason))
            return nil
        } catch {
            problems.append(SeedProblem(file: file, line: 1, field: "file", reason: "is not valid YAML: \(error)"))
            return nil
        }
    }

    /// The values of a mapping with exactly these keys (all `required` ones, any `optional` ones).
    mutating func fields(_ node: Node, _ path: String, required: [String], optional: [String] = []) -> Fields? {
        guard let pairs = pairs(node, path) else { return nil }
        var values: [String: Node] = [:]
        var valid = true
        let allowed = required + optional
        for (key, value) in pairs {
            guard allowed.contains(key) else {
                problem(
                    value, path.isEmpty ? key : "\(path).\(key)",
                    "is not a field here; expected \(allowed.joined(separator: ", "))")
                valid = false
                continue
            }
            values[key] = value
        }
        for key in required where values[key] == nil {
            problem(node, path.isEmpty ? key : "\(path).\(key)", "is required")
            valid = false
        }
        return valid ? Fields(node: node, values: values) : nil
    }

    /// A mapping's pairs in file order, keys as text.
    mutating func pairs(_ node: Node, _ path: String) -> [(String, Node)]? {
        guard case .mapping(let mapping) = node else {
            problem(node, path, "must be a mapping (key: value), not \(node.kind)")
            return nil
        }
        var pairs: [(String, Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                problem(key, path, "has a key that is not text")
                return nil
            }
            pairs.append((scalar.string, value))
        }
        return pairs
    }

    func isList(_ node: Node) -> Bool {
        if case .sequence = node { true } else { false }
    }

    /// The elements of a list; none (with a problem) when it is not one.
    mutating func list(_ node: Node, _ path: String, nonEmpty: Bool = false) -> [Node] {
        guard case .sequence(let sequence) = node else {
            problem(node, path, "must be a list (- …), not \(node.kind)")
            return []
        }
        if nonEmpty && sequence.isEmpty { problem(node, path, "must list at least one") }
        return Array(sequence)
    }

    /// Text: a quoted scalar or a plain one YAML reads as a string (not `12`, `true` or `null`).
    /// Its length is the Store's to check, as for the API.
    mutating func text(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node, node.tag.description == Tag.Name.str.rawValue else {
            problem(node, path, "must be text, not \(node.kind)")
            return nil
        }
        return scalar.string
    }

    /// A whole number written as digits (`63500`, not `"63500"`, `6.35e4` or `63_500`).
    mutating func integer(_ node: Node, _ path: String, in range: ClosedRange<Int>? = nil) -> Int64? {
        guard case .scalar(let scalar) = node, node.tag.description == Tag.Name.int.rawValue,
            scalar.string.wholeMatch(of: /-?[0-9]{1,19}/) != nil, let value = Int64(scalar.string)
        else {
            problem(node, path, "must be a whole number in digits, not \(node.kind)")
            return nil
        }
        if let range, !range.contains(Int(value)) {
            problem(node, path, "must be \(range.lowerBound)–\(range.upperBound)")
            return nil
        }
        return value
    }

    /// A quantity of `item` as the API takes it: a quoted decimal string (`"12.5"`) with at most
    /// the item's decimals, parsed by Core's `ScaledQuantity`. A YAML number would be read as
    /// floating point, so it is refused.
    mutating func quantity(_ node: Node, _ path: String, item: Item, allowZero: Bool) -> String? {
        guard case .scalar(let scalar) = node, node.tag.description == Tag.Name.str.rawValue else {
            problem(node, path, "must be a quoted decimal string such as \"12.5\", not \(node.kind)")
            return nil
        }
        do {
            _ = try ScaledQuantity.parse(scalar.string, scale: item.quantityScale, allowZero: allowZero)
        } catch {
            problem(node, path, Sandbox.describe(error, item: item))
            return nil
        }
        return scalar.string
    }

    /// A day, `2026-01-05` (quoted or not), that the calendar has.
    mutating func date(_ node: Node, _ path: String) -> Date? {
        let tag = node.tag.description
        guard case .scalar(let scalar) = node, tag == Tag.Name.str.rawValue || tag == Tag.Name.timestamp.rawValue,
            let match = scalar.string.wholeMatch(of: /([0-9]{4})-([0-9]{2})-([0-9]{2})/)
        else {
            problem(node, path, "must be a date YYYY-MM-DD, such as 2026-01-05")
            return nil
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let asked = DateComponents(year: Int(match.1), month: Int(match.2), day: Int(match.3))
        guard let date = calendar.date(from: asked),
            calendar.dateComponents([.year, .month, .day], from: date) == asked
        else {
            problem(node, path, "\(scalar.string) is not a day of the calendar")
            return nil
        }
        return date
    }

    mutating func tenantCode(_ node: Node, _ path: String) -> TenantCode? {
        guard let text = text(node, path) else { return nil }
        do {
            return try TenantCode(text)
        } catch {
            problem(node, path, error.reason)
            return nil
        }
    }

    mutating func orgCode(_ node: Node, _ path: String) -> OrgCode? {
        guard let text = text(node, path) else { return nil }
        do {
            return try OrgCode(text)
        } catch {
            problem(node, path, error.reason)
            return nil
        }
    }

    /// Where `node` is and the line of every value inside it, by path relative to it.
    func place(_ node: Node, _ path: String) -> SeedFile.Place {
        var lines: [String: Int] = [:]
        func visit(_ node: Node, _ relative: String) {
            if !relative.isEmpty { lines[relative] = node.line }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    let name = key.scalar?.string ?? "?"
                    visit(value, relative.isEmpty ? name : "\(relative).\(name)")
                }
            case .sequence(let sequence):
                for (index, element) in sequence.enumerated() { visit(element, "\(relative)[\(index)]") }
            case .scalar, .alias:
                break
            }
        }
        visit(node, "")
        return SeedFile.Place(file: file, path: path, line: node.line, lines: lines)
    }
}

extension Node {
    /// 1-based; Yams marks every node it composes.
    fileprivate var line: Int { mark?.line ?? 1 }

    /// What the node is, in the words a problem uses.
    fileprivate var kind: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            switch tag.description {
            case Tag.Name.str.rawValue: return "text \"\(scalar.string)\""
            case Tag.Name.int.rawValue: return "the number \(scalar.string)"
            case Tag.Name.float.rawValue: return "the floating-point number \(scalar.string)"
            case Tag.Name.bool.rawValue: return "the boolean \(scalar.string)"
            case Tag.Name.null.rawValue: return "null"
            case Tag.Name.timestamp.rawValue: return "the date \(scalar.string)"
            default: return "\(scalar.string)"
            }
        }
    }
}
