import PostgresNIO

/// What of an error may go to the log: the type and, for PostgreSQL errors, the server's message
/// — never the query's bound values, which may carry keys or personal data.
func loggable(_ error: any Error) -> String {
    if let error = error as? PSQLError {
        let state = error.serverInfo?[.sqlState] ?? "-"
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        return "PSQLError[\(state)] \(message)"
    }
    if let error = error as? PostgresTransactionError {
        return "PostgresTransactionError: " + [error.beginError, error.closureError, error.commitError, error.rollbackError]
            .compactMap { $0.map(loggable) }.joined(separator: "; ")
    }
    return "\(type(of: error)): \(error)"
}
