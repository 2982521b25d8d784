import Foundation
import Histogram
import NIOCore

/// Part 1's clients of `orgmatrix-bench ledger`: each takes the next created transfer,
/// dispatches it as the sender (the Store writes the `transfer.dispatched` transaction and the
/// sender's custodial endorsement) and approves the transaction as each org its policy still
/// awaits (`POST /v1/ledger/transactions/{hash}/approve`: a custodial endorsement each; the
/// last commits it). Every reply is checked: pending until the last approval, then committed.
struct CommitLoad {
    /// A created transfer and the keys of the principals that approve its dispatch, in order.
    struct Work: Sendable {
        let transferID: Int64
        let approverKeys: [String]
    }

    let port: Int
    let clients: Int
    let senderKey: String

    /// Latencies per committed transaction (dispatch + approval) and per request.
    struct Latencies: Sendable {
        var committed = Histogram<UInt64>.microseconds
        var dispatch = Histogram<UInt64>.microseconds
        var approve = Histogram<UInt64>.microseconds

        mutating func add(_ other: Latencies) {
            committed.add(other.committed)
            dispatch.add(other.dispatch)
            approve.add(other.approve)
        }
    }

    /// Client `c` takes transfers `c`, `c + clients`, …
    func run(_ work: [Work]) async throws -> Latencies {
        try await withThrowingTaskGroup(of: Latencies.self) { group in
            for client in 0..<clients {
                group.addTask {
                    try await HTTPLoadConnection.with(port: port) { connection in
                        var latencies = Latencies()
                        for transfer in stride(from: client, to: work.count, by: clients).map({ work[$0] }) {
                            let id = transfer.transferID
                            var hash = ""
                            let dispatch = try await ContinuousClock().measure {
                                let reply = try await connection.post(
                                    "/v1/transfers/\(id)/dispatch", bearer: senderKey,
                                    idempotencyKey: "bench-ledger-\(id)-dispatch", json: "{}")
                                hash = try Self.dispatchHash(
                                    reply, transferID: id, expecting: transfer.approverKeys.isEmpty ? "committed" : "pending")
                            }
                            var approvals = Duration.zero
                            for (index, approver) in transfer.approverKeys.enumerated() {
                                let approve = try await ContinuousClock().measure {
                                    let reply = try await connection.post(
                                        "/v1/ledger/transactions/\(hash)/approve", bearer: approver,
                                        idempotencyKey: "bench-ledger-\(id)-approve-\(index)", json: "{}")
                                    try Self.expect(
                                        reply, hash: hash,
                                        status: index == transfer.approverKeys.count - 1 ? "committed" : "pending")
                                }
                                latencies.approve.record(approve)
                                approvals += approve
                            }
                            latencies.committed.record(dispatch + approvals)
                            latencies.dispatch.record(dispatch)
                        }
                        return latencies
                    }
                }
            }
            var all = Latencies()
            for try await latencies in group { all.add(latencies) }
            return all
        }
    }

    private struct TransferReply: Decodable {
        struct Evidence: Decodable {
            let type: String
            let hash: String
            let status: String
        }

        let evidence: [Evidence]
    }

    private struct LedgerReply: Decodable {
        let status: String
    }

    /// The dispatch transaction's hash; its status must be `status`.
    private static func dispatchHash(_ reply: HTTPLoadConnection.Response, transferID: Int64, expecting status: String) throws
        -> String
    {
        guard reply.status == 200 else {
            throw BenchFailure("dispatch of transfer \(transferID): HTTP \(reply.status): \(String(buffer: reply.body))")
        }
        let decoded = try JSONDecoder().decode(TransferReply.self, from: Data(reply.body.readableBytesView))
        guard let evidence = decoded.evidence.first(where: { $0.type == "transfer.dispatched" }), evidence.status == status else {
            throw BenchFailure(
                "transfer \(transferID) was dispatched without a \(status) transfer.dispatched transaction: \(String(buffer: reply.body))"
            )
        }
        return evidence.hash
    }

    private static func expect(_ reply: HTTPLoadConnection.Response, hash: String, status: String) throws {
        guard reply.status == 200,
            (try? JSONDecoder().decode(LedgerReply.self, from: Data(reply.body.readableBytesView)))?.status == status
        else {
            throw BenchFailure("approval of \(hash): HTTP \(reply.status), not \(status): \(String(buffer: reply.body))")
        }
    }
}

/// Part 4's clients: each creates a transfer as the sender, dispatches it, and receives it as
/// its receiver with the estimate's freight as the actual freight — the three requests an
/// integrating system sends for one internal transfer.
struct PostingLoad {
    let port: Int
    let clients: Int
    let senderKey: String
    /// Receiver org codes and their principals' keys; transfer `n` goes to receiver `n mod count`.
    let receivers: [(org: String, key: String)]
    /// Items and whole units per line.
    let lines: [(item: String, units: Int64)]
    /// Makes this run's Idempotency-Keys its own (a round, a tenant).
    let label: String

    /// `count` transfers; the latency of each from its creation to its receipt.
    func run(count: Int) async throws -> Histogram<UInt64> {
        let linesJSON = lines.map { #"{"item":"\#($0.item)","quantity":"\#($0.units)"}"# }.joined(separator: ",")
        return try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for client in 0..<clients {
                group.addTask {
                    try await HTTPLoadConnection.with(port: port) { connection in
                        var latencies = Histogram<UInt64>.microseconds
                        for index in stride(from: client, to: count, by: clients) {
                            let receiver = receivers[index % receivers.count]
                            let elapsed = try await ContinuousClock().measure {
                                let created = try Self.created(
                                    try await connection.post(
                                        "/v1/transfers", bearer: senderKey, idempotencyKey: "bench-\(label)-\(index)-create",
                                        json: #"{"to":"\#(receiver.org)","lines":[\#(linesJSON)]}"#))
                                try Self.expectOK(
                                    try await connection.post(
                                        "/v1/transfers/\(created.id)/dispatch", bearer: senderKey,
                                        idempotencyKey: "bench-\(label)-\(index)-dispatch",
                                        json: "{}"), "dispatch of \(created.id)")
                                try Self.expectOK(
                                    try await connection.post(
                                        "/v1/transfers/\(created.id)/receive", bearer: receiver.key,
                                        idempotencyKey: "bench-\(label)-\(index)-receive",
                                        json: #"{"freightFen": \#(created.freightFen), "insuranceFen": 0}"#),
                                    "receipt of \(created.id)")
                            }
                            latencies.record(elapsed)
                        }
                        return latencies
                    }
                }
            }
            var all = Histogram<UInt64>.microseconds
            for try await latencies in group { all.add(latencies) }
            return all
        }
    }

    private struct CreatedReply: Decodable {
        struct Line: Decodable {
            struct Component: Decodable {
                let name: String
                let amountFen: Int64
            }

            let components: [Component]
        }

        let id: Int64
        let lines: [Line]
    }

    /// The new transfer's id and its estimated freight.
    private static func created(_ reply: HTTPLoadConnection.Response) throws -> (id: Int64, freightFen: Int64) {
        guard reply.status == 201 else {
            throw BenchFailure("transfer creation: HTTP \(reply.status): \(String(buffer: reply.body))")
        }
        let decoded = try JSONDecoder().decode(CreatedReply.self, from: Data(reply.body.readableBytesView))
        let freight = decoded.lines.flatMap(\.components).filter { $0.name == "freight" }.reduce(Int64(0)) { $0 + $1.amountFen }
        return (decoded.id, freight)
    }

    private static func expectOK(_ reply: HTTPLoadConnection.Response, _ what: String) throws {
        guard reply.status == 200 else { throw BenchFailure("\(what): HTTP \(reply.status): \(String(buffer: reply.body))") }
    }
}
