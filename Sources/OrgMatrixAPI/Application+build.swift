import Hummingbird
import Logging
import NIOCore
import OrgMatrixStore
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// Everything `serve` needs, from flags and environment; each limit has a documented default.
public struct AppConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databaseURL: DatabaseURL
    public var schemaDirectory: String
    /// Pooled connections to PostgreSQL per server process (default 20).
    public var poolConnectionsMax: Int
    /// How long `/readyz` waits for the database before answering 503 (default 2 s).
    public var readinessTimeout: Duration
    /// How long opening one database connection may take (default 5 s).
    public var connectTimeout: Duration
    /// The bearer token `/metrics` asks of a scraper; without one, `/metrics` answers 404, so
    /// that no anonymous caller learns request volumes by route.
    public var metricsToken: String?
    /// How long a connection may stay silent, and how long a request's body may take to
    /// arrive, before the server gives up on it (default 30 s): a client that sends half a
    /// request holds nothing for long.
    public var requestReadTimeout: Duration
    /// What custodial keys are unsealed with (`ORGMATRIX_MASTER_KEY_FILE`); without it no
    /// custodial key signs and no block is sealed.
    public var masterKey: MasterKey?
    /// When the sealer cuts blocks; nil runs no sealer in this process.
    public var sealing: SealingRule?

    public init(
        host: String = "127.0.0.1", port: Int = 8080, databaseURL: DatabaseURL, schemaDirectory: String = "Schema",
        poolConnectionsMax: Int = 20, readinessTimeout: Duration = .seconds(2), connectTimeout: Duration = .seconds(5),
        metricsToken: String? = nil, requestReadTimeout: Duration = .seconds(30), masterKey: MasterKey? = nil, sealing: SealingRule? = nil
    ) {
        self.masterKey = masterKey
        self.sealing = sealing
        self.host = host
        self.port = port
        self.databaseURL = databaseURL
        self.schemaDirectory = schemaDirectory
        self.poolConnectionsMax = poolConnectionsMax
        self.readinessTimeout = readinessTimeout
        self.connectTimeout = connectTimeout
        self.metricsToken = metricsToken
        self.requestReadTimeout = requestReadTimeout
    }
}

/// The long-lived parts the router's handlers use.
public struct AppDependencies: Sendable {
    public let database: Database
    public let migrator: Migrator
    public let metrics: PrometheusCollectorRegistry
    public let readinessTimeout: Duration
    public let metricsToken: String?
    public let requestReadTimeout: Duration

    public init(
        database: Database, migrator: Migrator, metrics: PrometheusCollectorRegistry, readinessTimeout: Duration, metricsToken: String?,
        requestReadTimeout: Duration
    ) {
        self.database = database
        self.migrator = migrator
        self.metrics = metrics
        self.readinessTimeout = readinessTimeout
        self.metricsToken = metricsToken
        self.requestReadTimeout = requestReadTimeout
    }

    /// Builds the pool (not yet running: it is a service to run) and a private metrics registry.
    public static func make(_ configuration: AppConfiguration, logger: Logger) throws -> AppDependencies {
        let registry = PrometheusCollectorRegistry()
        let client = PostgresClient(
            configuration: configuration.databaseURL.clientConfiguration(
                maximumConnections: configuration.poolConnectionsMax, connectTimeout: configuration.connectTimeout),
            backgroundLogger: logger
        )
        let database = Database(
            client: client, maximumConnections: configuration.poolConnectionsMax,
            metricsFactory: PrometheusMetricsFactory(registry: registry), masterKey: configuration.masterKey)
        return AppDependencies(
            database: database, migrator: try Migrator.load(directory: configuration.schemaDirectory), metrics: registry,
            readinessTimeout: configuration.readinessTimeout, metricsToken: configuration.metricsToken,
            requestReadTimeout: configuration.requestReadTimeout)
    }
}

/// The router with every route and middleware; tests build just this.
public func buildRouter(_ dependencies: AppDependencies) throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(factory: PrometheusMetricsFactory(registry: dependencies.metrics)))
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ProblemMiddleware())
    HealthController(
        database: dependencies.database, migrator: dependencies.migrator, readinessTimeout: dependencies.readinessTimeout
    ).register(on: router)
    TenancyController(database: dependencies.database, bodyTimeout: dependencies.requestReadTimeout).register(on: router)
    InventoryController(database: dependencies.database, bodyTimeout: dependencies.requestReadTimeout).register(on: router)
    LedgerController(database: dependencies.database, bodyTimeout: dependencies.requestReadTimeout).register(on: router)
    LedgerVerifyController(database: dependencies.database).register(on: router)
    MetaController(
        registry: dependencies.metrics, openAPIDocument: try MetaController.loadOpenAPIDocument(), metricsToken: dependencies.metricsToken)
        .register(on: router)
    router.add(middleware: MethodNotAllowedMiddleware(router.routes))
    return router
}

/// The whole server: router, HTTP listener and the database pool as a service that shuts down
/// after the listener has drained its in-flight requests. `onServerRunning` learns the bound
/// channel (its port, when `configuration.port` is 0).
public func buildApplication(
    _ configuration: AppConfiguration, logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let dependencies = try AppDependencies.make(configuration, logger: logger)
    return Application(
        router: try buildRouter(dependencies),
        server: .http1(configuration: .init(idleTimeout: .nanoseconds(configuration.requestReadTimeout.nanoseconds))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "OrgMatrix"),
        services: [dependencies.database.client] + sealer(configuration, dependencies.database, logger: logger),
        onServerRunning: onServerRunning,
        logger: logger
    )
}

/// The sealer, when this process runs one and can sign blocks.
private func sealer(_ configuration: AppConfiguration, _ database: Database, logger: Logger) -> [any Service] {
    guard let rule = configuration.sealing else { return [] }
    guard let masterKey = configuration.masterKey else {
        logger.warning("no block sealer: it signs with the orderer's custodial key and needs ORGMATRIX_MASTER_KEY_FILE")
        return []
    }
    let poll = min(rule.maxAge / 4, .milliseconds(250))
    return [SealerService(database: database, masterKey: masterKey, rule: rule, pollInterval: poll, logger: logger)]
}
