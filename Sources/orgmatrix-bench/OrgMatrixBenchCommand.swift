import ArgumentParser

/// `orgmatrix-bench …`: benchmarks that print figures, apart from the product's executable.
/// Speed targets live here, never in tests.
@main
struct OrgMatrixBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orgmatrix-bench",
        abstract: "OrgMatrix benchmarks that print figures.",
        subcommands: [BenchCrypto.self, BenchSandbox.self, BenchPostings.self, BenchLedger.self, BenchBundle.self]
    )
}

/// Where a database benchmark builds its scratch database: the server and credentials of the
/// application role (and, from the environment or pg.env, the owner's), and the migrations.
struct BenchDatabaseOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL of the application role. Default: $DATABASE_URL, else the one in <data-dir>/pg.env.")
    var databaseURL: String?

    @Option(help: "The project's data folder holding the private cluster and pg.env.")
    var dataDir: String = ".data"

    @Option(help: "Folder of the numbered SQL migrations.")
    var schemaDir: String = "Schema"
}

/// Why a benchmark could not run or finish: printed, exit status 1.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
