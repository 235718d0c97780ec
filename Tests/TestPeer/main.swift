// A second process for the two-process ZeroMQ tests: a DEALER that connects to the endpoint given
// on the command line, says hello, and then behaves as the mode asks.
//   echo ENDPOINT: sends every message it receives back, until it receives ["stop"].
//   mute ENDPOINT: never reads; sleeps until killed (a peer whose queue fills up).
import Foundation
import Protocol

let arguments = CommandLine.arguments
guard arguments.count == 3, ["echo", "mute"].contains(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: sweep-test-peer echo|mute ENDPOINT\n".utf8))
    exit(2)
}
do {
    let context = try ZMQContext()
    let socket = try ZMQSocket(context: context, type: .dealer)
    try socket.connect(arguments[2])
    try socket.send([Array("hello".utf8), Array("\(getpid())".utf8)])
    if arguments[1] == "mute" {
        while true { sleep(60) }
    }
    while true {
        let parts = try socket.receive()
        if parts == [Array("stop".utf8)] { break }
        try socket.send(parts)
    }
    socket.close()
} catch {
    FileHandle.standardError.write(Data("sweep-test-peer: \(error)\n".utf8))
    exit(1)
}
