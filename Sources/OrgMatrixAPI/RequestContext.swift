import Hummingbird

/// Per-request state. Later capabilities add the authenticated principal here.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Largest request body accepted, in bytes (1 MiB): documents are small, bulk goes through
    /// paginated batches.
    public var maxUploadSize: Int { APILimits.requestBodyBytesMax }
}

/// The API's limits, each documented in the README.
public enum APILimits {
    public static let requestBodyBytesMax = 1 << 20
}
