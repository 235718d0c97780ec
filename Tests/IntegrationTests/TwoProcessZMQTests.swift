import Foundation
import Protocol
import Testing

/// ZeroMQ between this process and a real second process over tcp://127.0.0.1.
@Suite struct TwoProcessZMQTests {
    /// Binds a ROUTER on an ephemeral loopback port.
    func router(_ context: ZMQContext) throws -> (ZMQSocket, String) {
        let router = try ZMQSocket(context: context, type: .router)
        try router.setRouterMandatory(true)
        try router.bind("tcp://127.0.0.1:*")
        return (router, try router.lastEndpoint())
    }

    @Test func routerAndDealerTalkAcrossProcesses() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try router(context)
        let peer = try Child("sweep-test-peer", ["echo", endpoint])
        let hello = try router.receive(wait: .milliseconds(10_000))
        #expect(hello.count == 3)
        #expect(hello[1] == Array("hello".utf8))
        #expect(String(decoding: hello[2], as: UTF8.self) == "\(peer.process.processIdentifier)")
        let identity = hello[0]
        let frames = try Codec().encode(CoordinatorMessage.wait(Wait(retryMilliseconds: 250)))
        try router.send([identity] + frames, wait: .milliseconds(1000))
        let echoed = try router.receive(wait: .milliseconds(10_000))
        #expect(echoed == [identity] + frames)
        #expect(try Codec().decode(Array(echoed.dropFirst()), as: CoordinatorMessage.self) == .wait(Wait(retryMilliseconds: 250)))
        try router.send([identity, Array("stop".utf8)])
        let (status, _, stderr) = peer.finish()
        #expect(status == 0, "peer stderr: \(stderr)")
    }

    @Test func aVanishedPeerIsUnreachableAndReceiveTimesOut() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try router(context)
        let peer = try Child("sweep-test-peer", ["echo", endpoint])
        let identity = try router.receive(wait: .milliseconds(10_000))[0]
        peer.kill(SIGKILL)
        _ = peer.finish()
        // The kernel closes the TCP connection; libzmq notices and drops the route.
        var unreachable = false
        for _ in 0..<100 where !unreachable {
            do {
                try router.send([identity, Array("anyone?".utf8)], wait: .nonBlocking)
                Thread.sleep(forTimeInterval: 0.05)
            } catch let error as ZMQError where error.hostUnreachable {
                unreachable = true
            }
        }
        #expect(unreachable)
        do {
            _ = try router.receive(wait: .milliseconds(200))
            Issue.record("received from a dead peer")
        } catch let error as ZMQError {
            #expect(error.wouldBlock)
        }
    }

    @Test func aPeerThatNeverReadsCannotBlockTheRouter() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, type: .router)
        try router.setRouterMandatory(true)
        try router.setSendHighWaterMark(10)
        try router.bind("tcp://127.0.0.1:*")
        let peer = try Child("sweep-test-peer", ["mute", try router.lastEndpoint()])
        let identity = try router.receive(wait: .milliseconds(10_000))[0]
        let payload = [UInt8](repeating: 7, count: 256 << 10)
        var sent = 0
        var refused = false
        let start = Date()
        while !refused && sent < 10_000 {
            do {
                try router.send([identity, payload], wait: .nonBlocking)
                sent += 1
            } catch let error as ZMQError where error.wouldBlock {
                refused = true
            }
        }
        #expect(refused, "sent \(sent) messages of 256 KiB to a peer that never reads")
        #expect(Date().timeIntervalSince(start) < 30)
        peer.kill(SIGKILL)
        _ = peer.finish()
    }
}
