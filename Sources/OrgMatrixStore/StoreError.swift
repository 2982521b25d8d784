/// An operating error of the store, mapped once to problem+json by the API.
///
/// A struct around a code so codes can be added without breaking callers.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable {
        let name: String
        /// No valid, unrevoked API key.
        public static let unauthenticated = Code(name: "unauthenticated")
        /// Not there, or outside the principal's sandbox: the two are indistinguishable on purpose.
        public static let notFound = Code(name: "not-found")
        /// Inside the sandbox, but the principal's role may not do this.
        public static let forbidden = Code(name: "forbidden")
        /// The request conflicts with what is stored (a duplicate name, an already ended relation).
        public static let conflict = Code(name: "conflict")
        /// A field is wrong; `field` names it.
        public static let invalid = Code(name: "invalid")
    }

    public let code: Code
    public let detail: String
    public let field: String?

    public init(_ code: Code, _ detail: String, field: String? = nil) {
        self.code = code
        self.detail = detail
        self.field = field
    }

    public var description: String { "\(code.name): \(detail)" }
}
