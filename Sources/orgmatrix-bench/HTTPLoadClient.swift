import NIOCore
import NIOHTTP1
import NIOPosix

/// One keep-alive HTTP/1.1 connection of the load generator, sending one request at a time the
/// way a client system posting documents does. Deliberately small: the benchmark measures the
/// server, so the client does no more than frame requests and read whole responses, with
/// swift-nio's own client handlers. async-http-client, measured against the same server, spent
/// about 90 µs more CPU per request on the cores the server and PostgreSQL run on (README).
struct HTTPLoadConnection {
    struct Response {
        let status: Int
        let body: ByteBuffer
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    typealias Inbound = NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    typealias Outbound = NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    /// Connects to `127.0.0.1:port` and runs `body` with the connection, closing it afterwards.
    static func with<T: Sendable>(port: Int, _ body: (inout HTTPLoadConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = HTTPLoadConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    private var inbound: Inbound
    private let outbound: Outbound

    private init(inbound: Inbound, outbound: Outbound) {
        self.inbound = inbound
        self.outbound = outbound
    }

    mutating func post(_ path: String, bearer: String, idempotencyKey: String, json: String) async throws -> Response {
        let body = ByteBuffer(string: json)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1")
        head.headers.add(name: "Authorization", value: "Bearer \(bearer)")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Idempotency-Key", value: idempotencyKey)
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(body)), .end(nil)])
        var status: Int?
        var received = ByteBuffer()
        while let part = try await inbound.next() {
            switch part {
            case .head(let response): status = Int(response.status.code)
            case .body(var chunk): received.writeBuffer(&chunk)
            case .end:
                guard let status else { throw Failure(description: "response without a status line") }
                return Response(status: status, body: received)
            }
        }
        throw Failure(description: "the server closed the connection mid-response")
    }
}
