import Foundation
import Testing

@testable import Protocol

@Suite struct ZMQTests {
    @Test func pairOverInprocCarriesMultipartMessages() throws {
        let context = try ZMQContext()
        let a = try ZMQSocket(context: context, type: .pair)
        let b = try ZMQSocket(context: context, type: .pair)
        try a.bind("inproc://pair-test")
        try b.connect("inproc://pair-test")
        let message: [[UInt8]] = [Array("one".utf8), [], [0, 1, 2, 255]]
        try a.send(message)
        #expect(try b.receive(wait: .milliseconds(1000)) == message)
    }

    @Test func receiveTimesOutAndNonBlockingDoesNotWait() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .pair)
        try socket.bind("inproc://timeout-test")
        let start = Date()
        do {
            _ = try socket.receive(wait: .milliseconds(100))
            Issue.record("received from an empty socket")
        } catch let error as ZMQError {
            #expect(error.wouldBlock)
        }
        #expect(Date().timeIntervalSince(start) >= 0.09)
        #expect(throws: ZMQError.self) { try socket.receive(wait: .nonBlocking) }
        try socket.setReceiveTimeout(milliseconds: 50)
        do {
            _ = try socket.receive()
            Issue.record("received from an empty socket")
        } catch let error as ZMQError {
            #expect(error.wouldBlock)
            #expect(error.message == "Resource temporarily unavailable")
        }
    }

    @Test func routerRoutesRepliesByIdentity() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, type: .router)
        try router.setRouterMandatory(true)
        try router.bind("inproc://router-test")
        let first = try ZMQSocket(context: context, type: .dealer)
        let second = try ZMQSocket(context: context, type: .dealer)
        try first.setRoutingID(Array("first".utf8))
        try second.setRoutingID(Array("second".utf8))
        try first.connect("inproc://router-test")
        try second.connect("inproc://router-test")
        try second.send([Array("from second".utf8)])
        let received = try router.receive(wait: .milliseconds(1000))
        #expect(received == [Array("second".utf8), Array("from second".utf8)])
        try router.send([Array("second".utf8), Array("reply".utf8)], wait: .nonBlocking)
        #expect(try second.receive(wait: .milliseconds(1000)) == [Array("reply".utf8)])
        #expect(throws: ZMQError.self) { try first.receive(wait: .nonBlocking) }
        do {
            try router.send([Array("nobody".utf8), Array("x".utf8)], wait: .nonBlocking)
            Issue.record("sent to an unknown peer")
        } catch let error as ZMQError {
            #expect(error.hostUnreachable)
        }
    }

    @Test func pollReportsOnlyReadableSockets() throws {
        let context = try ZMQContext()
        let a = try ZMQSocket(context: context, type: .pair)
        let b = try ZMQSocket(context: context, type: .pair)
        let c = try ZMQSocket(context: context, type: .pair)
        let d = try ZMQSocket(context: context, type: .pair)
        try a.bind("inproc://poll-a")
        try b.connect("inproc://poll-a")
        try c.bind("inproc://poll-c")
        try d.connect("inproc://poll-c")
        #expect(try ZMQSocket.pollReadable([a, c], timeoutMilliseconds: 20) == [])
        try d.send([[42]])
        #expect(try ZMQSocket.pollReadable([a, c], timeoutMilliseconds: 1000) == [1])
        try b.send([[7]])
        #expect(try ZMQSocket.pollReadable([a, c], timeoutMilliseconds: 1000) == [0, 1])
    }

    @Test func errorsCarryTheLibraryText() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .router)
        do {
            try socket.bind("nonsense://x")
            Issue.record("bound a nonsense endpoint")
        } catch let error as ZMQError {
            #expect(error.operation == "bind nonsense://x")
            #expect(error.message == "Protocol not supported")
        }
        try socket.bind("tcp://127.0.0.1:*")
        let endpoint = try socket.lastEndpoint()
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let other = try ZMQSocket(context: context, type: .router)
        do {
            try other.bind(endpoint)
            Issue.record("bound an address in use")
        } catch let error as ZMQError {
            #expect(error.message == "Address already in use")
        }
        socket.close()
        #expect(throws: ZMQError.self) { try socket.send([[1]]) }
    }

    @Test func optionsAreAccepted() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .router)
        try socket.setSendHighWaterMark(100)
        try socket.setReceiveHighWaterMark(100)
        try socket.setSendTimeout(milliseconds: 10)
        try socket.setMaximumMessageSize(1 << 20)
        try socket.setHeartbeat(intervalMilliseconds: 100, ttlMilliseconds: 500, timeoutMilliseconds: 500)
        try socket.setReconnectInterval(initialMilliseconds: 100, maximumMilliseconds: 1000)
        try socket.setImmediate(true)
        try socket.setZAPDomain("sweep")
        let (publicKey, secretKey) = try Curve.generateKeyPair()
        #expect(publicKey.count == 40 && secretKey.count == 40)
        let secret = try #require(Curve.decode(secretKey))
        #expect(secret.count == 32)
        #expect(Curve.decode("too short") == nil)
        try socket.setCurveServer(secretKey: secret)
        let client = try ZMQSocket(context: context, type: .dealer)
        let server = try #require(Curve.decode(publicKey))
        try client.setCurveClient(serverKey: server, publicKey: server, secretKey: secret)
        #expect(throws: ZMQError.self) { try socket.setCurveServer(secretKey: [1, 2, 3]) }
    }

    @Test func shuttingDownTheContextEndsABlockingReceive() async throws {
        let context = try ZMQContext()
        let outcome: ZMQError? = await withCheckedContinuation { continuation in
            let thread = Thread {
                do {
                    let socket = try ZMQSocket(context: context, type: .pair)
                    try socket.bind("inproc://shutdown-test")
                    _ = try socket.receive()
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: error as? ZMQError)
                }
            }
            thread.start()
            Thread.sleep(forTimeInterval: 0.1)
            context.shutdown()
        }
        #expect(outcome?.contextTerminated == true)
    }

    @Test func zmqVersionIsReported() {
        #expect(zmqVersion.split(separator: ".").count == 3)
    }
}
