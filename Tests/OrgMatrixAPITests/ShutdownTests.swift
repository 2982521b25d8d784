import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import OrgMatrixTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// SIGTERM (here: the same graceful shutdown a signal triggers) lets in-flight requests finish.
@Suite struct ShutdownTests {
    @Test func gracefulShutdownLetsAnInFlightRequestFinish() async throws {
        try await ThrowawayDatabase.with { database in
            let port = Mutex<Int?>(nil)
            let started = Mutex(false)
            let app = try makeApp(databaseURL: database.appURL, port: 0) { router in
                router.get("test/slow") { _, _ -> String in
                    started.withLock { $0 = true }
                    try await Task.sleep(for: .milliseconds(1500))
                    return "finished"
                }
            } onServerRunning: { channel in
                port.withLock { $0 = channel.localAddress?.port }
            }
            let group = ServiceGroup(configuration: .init(services: [app], logger: testLogger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let boundPort = try await waitFor { port.withLock { $0 } }
                let request = Task { try await rawGET("/test/slow", port: boundPort) }
                _ = try await waitFor { started.withLock { $0 } ? true : nil }
                await group.triggerGracefulShutdown()
                let response = try await request.value
                #expect(response.hasPrefix("HTTP/1.1 200"))
                #expect(response.hasSuffix("finished"))
                try await tasks.waitForAll()
                await #expect(throws: (any Error).self) { try await rawGET("/healthz", port: boundPort) }
            }
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
