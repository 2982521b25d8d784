import Foundation
import OrgMatrixCore
import OrgMatrixStore

/// The keys a request body may carry, level by level. Any other key is refused with a 422 that
/// names it, as the OpenAPI document's `additionalProperties: false` says: a misspelt optional
/// field (`settlementorg`) must not silently fall back to its default.
public indirect enum BodyKeys: Sendable {
    /// An object with exactly these keys (each optional or not, as its type says), each holding
    /// a value of the given shape.
    case object([String: BodyKeys])
    /// An array whose elements have this shape.
    case array(BodyKeys)
    /// An object keyed by data (item codes), whose values have this shape.
    case map(BodyKeys)
    /// A leaf: its type is the decoder's business.
    case value
}

/// A JSON request body the API decodes: its keys, and the rules of the OpenAPI document that the
/// decoder does not check (patterns, bounds, lengths, the fields a kind takes).
///
/// A request that breaks one of these is malformed whatever the tenant holds: 422 naming the
/// field, before anything stored is looked at. Only then do stored data decide: a code that
/// names nothing in the sandbox is 404, a conflict with what is stored 409.
public protocol JSONBody: Decodable, Sendable {
    static var keys: BodyKeys { get }
    /// Throws the first broken rule as a 422 naming its field.
    func checkForm() throws
}

/// The checks `checkForm` implementations are made of, each mirroring one schema keyword.
enum Form {
    static func problem(_ field: String, _ reason: String) -> APIError {
        APIError(.invalidField, detail: "\(field) \(reason).", field: field)
    }

    static func require(_ condition: Bool, _ field: String, _ reason: String) throws {
        if !condition { throw problem(field, reason) }
    }

    /// `minLength`/`maxLength`: JSON Schema counts code points, and so does this (a Swift
    /// `count` counts grapheme clusters, which is fewer for combining marks).
    static func text(_ value: String, _ field: String, length: ClosedRange<Int>) throws {
        try require(length.contains(value.unicodeScalars.count), field, "must be \(length.lowerBound)–\(length.upperBound) characters")
    }

    static func integer(_ value: Int64, _ field: String, _ range: ClosedRange<Int64>) throws {
        try require(range.contains(value), field, "must be \(range.lowerBound)–\(range.upperBound)")
    }

    static func orgCode(_ value: String, _ field: String) throws {
        try require(isOrgCode(value), field, "must be 2–40 upper-case letters, digits or dashes, starting with a letter")
    }

    static func itemCode(_ value: String, _ field: String) throws {
        try require(Item.isCode(value), field, "must be an item code: 2–40 upper-case letters, digits or dashes, not starting with a dash")
    }

    /// A quantity as decimal text: the grammar, at most six decimals and 10^9 base units, and
    /// positive unless `allowZero`. The item's own decimals are stored data (409), not form.
    static func quantity(_ value: String, _ field: String, allowZero: Bool = false) throws {
        guard let problem = ScaledQuantity.formProblem(value, allowZero: allowZero) else { return }
        let reason =
            switch problem {
            case .notADecimal: "must be decimal text such as \"2400.5\" (digits without a leading zero, optionally a point and decimals)"
            case .tooManyDecimals: "has more than \(ScaledQuantity.decimals(ofScale: ScaledQuantity.scaleMax)) decimals"
            case .tooLarge: "must be at most \(Bounds.quantityUnitsMax) base units"
            case .notPositive: "must be more than zero"
            }
        throw Self.problem(field, reason)
    }

    static func time(_ value: String, _ field: String) throws -> Date {
        guard let date = UTCTime.parse(value) else {
            throw problem(field, "must be a UTC time in \(UTCTime.yearMin)–\(UTCTime.yearMax) such as 2026-06-30T00:00:00Z")
        }
        return date
    }

    /// Each line's item at most once (`lines[i].item`): JSON Schema cannot say this of one field
    /// of an array's objects, so the document says it in words.
    static func distinctItems(_ codes: [String]) throws {
        var seen: Set<String> = []
        for (index, code) in codes.enumerated() where !seen.insert(code).inserted {
            throw problem("lines[\(index)].item", "names \(code) a second time; put its quantities on one line")
        }
    }

    /// A line's value, quantity × unit amount rounded half-even, at most `Bounds.amountFenMax`:
    /// a product of two fields, which JSON Schema cannot bound, so the document says it in words.
    /// The quantity is well formed (checked before).
    static func lineValue(quantity: String, unitFen: Int64, _ field: String) throws {
        guard let scaled = try? ScaledQuantity.parse(quantity, scale: ScaledQuantity.scaleMax, allowZero: true) else { return }
        do {
            _ = try MovingAverage.lineValue(unitCostFen: unitFen, quantityScaled: scaled, scale: ScaledQuantity.scaleMax)
        } catch {
            throw problem(field, "is worth more than \(Bounds.amountFenMax) fen (quantity × unit amount)")
        }
    }
}

/// An org code: 2–40 upper-case letters, digits or dashes, starting with a letter.
func isOrgCode(_ text: String) -> Bool { (try? OrgCode(text)) != nil }
