import Foundation
import Hummingbird
import NIOCore
import OrgMatrixAPI
import NIOPosix
import OrgMatrixTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// SIGTERM (here: the same graceful shutdown a signal triggers) lets in-flight requests finish.
@Suite struct ShutdownTests {
    @Test func gracefulShutdownLetsAnInFlightRequestFinish() async throws {
        try await ThrowawayDatabase.with { database in
            let started = Mutex(false)
            let boundPort = try await withLiveApp(database) { router in
                router.get("test/slow") { _, _ -> String in
                    started.withLock { $0 = true }
                    try await Task.sleep(for: .milliseconds(1500))
                    return "finished"
                }
            } while: { port, group in
                let request = Task { try await rawGET("/test/slow", port: port) }
                _ = try await waitFor { started.withLock { $0 } ? true : nil }
                await group.triggerGracefulShutdown()
                let response = try await request.value
                #expect(response.hasPrefix("HTTP/1.1 200"))
                #expect(response.hasSuffix("finished"))
            }
            await #expect(throws: (any Error).self) { try await rawGET("/healthz", port: boundPort) }
        }
    }

    /// A client that sends half a request holds nothing for long: its body is answered 408.
    /// The client waits up to 20 s and the answer must come within 15 s of a 0.5 s timeout: in
    /// the full parallel run other suites can hold both threads of the task pool for seconds
    /// (a fresh clone beside a long benchmark once saw no 408 within 5 s); without the timeout
    /// no 408 would come at all, only the client's own close.
    @Test func aBodyThatDoesNotArriveIsAnswered408() async throws {
        try await ThrowawayDatabase.with { database in
            _ = try await withLiveApp(database, requestReadTimeout: .milliseconds(500)) { _ in } while: { boundPort, group in
                let key = "omx_acme_" + String(repeating: "0", count: 48)
                let started = ContinuousClock.now
                let response = try await raw(
                    "POST /v1/items HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 100\r\n\r\n{\"code\":", port: boundPort, closeAfter: .seconds(20))
                #expect(response.hasPrefix("HTTP/1.1 408"), "\(response)")
                #expect(ContinuousClock.now - started < .seconds(15))
                await group.triggerGracefulShutdown()
            }
        }
    }

    /// Runs the real server on a loopback port while `body` talks to it; `body` ends it with a
    /// graceful shutdown of `group`. Returns the port it listened on.
    private func withLiveApp(
        _ database: ThrowawayDatabase, requestReadTimeout: Duration = .seconds(30), extraRoutes: (Router<AppRequestContext>) -> Void,
        while body: @escaping @Sendable (Int, ServiceGroup) async throws -> Void
    ) async throws -> Int {
        let port = Mutex<Int?>(nil)
        let app = try makeApp(databaseURL: database.appURL, requestReadTimeout: requestReadTimeout, port: 0, extraRoutes: extraRoutes) {
            channel in port.withLock { $0 = channel.localAddress?.port }
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: testLogger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let boundPort = try await waitFor { port.withLock { $0 } }
            try await body(boundPort, group)
            try await tasks.waitForAll()
            return boundPort
        }
    }

    private func waitFor<T: Sendable>(_ value: @Sendable () -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let value = value() { return value }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestSetupError("timed out waiting for the server")
    }

    /// Bytes sent over a plain socket; what the server sent back within `closeAfter` (or until it closed).
    private func raw(_ request: String, port: Int, closeAfter: Duration) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            return try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    var text = ""
                    for try await chunk in inbound {
                        text += String(buffer: chunk)
                        if text.contains("\r\n\r\n") && text.contains("}") { break }
                    }
                    return text
                }
                group.addTask {
                    try await Task.sleep(for: closeAfter)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first ?? ""
            }
        }
    }

    /// One HTTP/1.1 request over a plain socket; returns everything the server sent before closing.
    private func rawGET(_ path: String, port: Int) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
            var text = ""
            for try await chunk in inbound { text += String(buffer: chunk) }
            return text
        }
    }
}
