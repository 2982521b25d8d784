import ArgumentParser
import OrgMatrixStore

@main
struct OrgMatrixCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orgmatrix",
        abstract: "OrgMatrix: a multi-tenant group ERP backend.",
        subcommands: [Serve.self, Migrate.self, TenantCommand.self, SeedCommand.self, KeysCommand.self, LedgerCommand.self, Crypto.self]
    )
}

/// Options every database-using command shares.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL. Default: $DATABASE_URL, else the private cluster's URL in <data-dir>/pg.env.")
    var databaseURL: String?

    @Option(help: "The project's data folder holding the private cluster and pg.env.")
    var dataDir: String = ".data"

    @Option(help: "Folder of the numbered SQL migrations.")
    var schemaDir: String = "Schema"

    @Option(help: "Log format: json (one object per line) or text.")
    var logFormat: LogFormat = .json

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"
}

/// `LogFormat` is the Store's (both executables log through it); only this command line parses it.
extension LogFormat: ExpressibleByArgument {}
