import Foundation

/// Limited-memory BFGS with box bounds, projected (the GP's hyperparameter fit, unbounded, and its
/// acquisition search, in the unit box): the two-loop direction over the variables not held at a
/// bound, a backtracking Armijo line search along the projected path, and a stop when the projected
/// gradient's largest component falls below `gradientTolerance`. A step whose value is not finite
/// (a kernel matrix that is not positive definite) is shortened like one that does not descend.
struct BoundedLBFGS {
    var lower: [Double]
    var upper: [Double]
    var gradientTolerance = 1e-5
    var maximumIterations = 200
    var memory = 10

    /// The minimiser from `start`, its value, and the iterations taken. `evaluate` returns the
    /// value at a point and writes the gradient into its second argument.
    func minimize(from start: [Double], _ evaluate: (_ x: [Double], _ gradient: inout [Double]) -> Double) -> (
        x: [Double], value: Double, iterations: Int
    ) {
        let n = start.count
        var x = project(start)
        var gradient = [Double](repeating: 0, count: n)
        var value = evaluate(x, &gradient)
        guard value.isFinite else { return (x, value, 0) }
        var steps: [[Double]] = [], changes: [[Double]] = [], curvatures: [Double] = []
        var next = [Double](repeating: 0, count: n), nextGradient = gradient
        for iteration in 0..<maximumIterations {
            // Variables at a bound whose gradient pushes outward stay there this iteration.
            var free = [Bool](repeating: true, count: n)
            var largest = 0.0
            for i in 0..<n {
                if (x[i] <= lower[i] && gradient[i] > 0) || (x[i] >= upper[i] && gradient[i] < 0) {
                    free[i] = false
                } else {
                    largest = max(largest, abs(gradient[i]))
                }
            }
            if largest < gradientTolerance { return (x, value, iteration) }
            var direction = twoLoop(gradient, free: free, steps: steps, changes: changes, curvatures: curvatures)
            if !(zip(direction, gradient).reduce(0, { $0 + $1.0 * $1.1 }) < 0) {
                direction = (0..<n).map { free[$0] ? -gradient[$0] : 0 }  // not a descent direction: steepest descent
            }
            // The first step is at most one unit in its largest component.
            var step = steps.isEmpty ? min(1, 1 / max(direction.map(abs).max() ?? 1, 1e-12)) : 1
            var accepted = false
            for _ in 0..<40 {
                for i in 0..<n { next[i] = min(max(x[i] + step * direction[i], lower[i]), upper[i]) }
                let nextValue = evaluate(next, &nextGradient)
                var decrease = 0.0
                for i in 0..<n { decrease += gradient[i] * (next[i] - x[i]) }
                if nextValue.isFinite && nextValue <= value + 1e-4 * decrease {
                    let s = (0..<n).map { next[$0] - x[$0] }, y = (0..<n).map { nextGradient[$0] - gradient[$0] }
                    let sy = zip(s, y).reduce(0) { $0 + $1.0 * $1.1 }
                    if sy > 1e-10 {
                        steps.append(s)
                        changes.append(y)
                        curvatures.append(sy)
                        if steps.count > memory {
                            steps.removeFirst()
                            changes.removeFirst()
                            curvatures.removeFirst()
                        }
                    }
                    let improvement = value - nextValue
                    swap(&x, &next)
                    swap(&gradient, &nextGradient)
                    value = nextValue
                    accepted = true
                    // A step that changes nothing any more ends the search.
                    if improvement <= 1e-12 * max(1, abs(value)) && s.allSatisfy({ abs($0) < 1e-12 }) {
                        return (x, value, iteration + 1)
                    }
                    break
                }
                step *= 0.5
            }
            if !accepted { return (x, value, iteration + 1) }
        }
        return (x, value, maximumIterations)
    }

    func project(_ x: [Double]) -> [Double] { x.indices.map { min(max(x[$0], lower[$0]), upper[$0]) } }

    /// −H·g over the free variables (held ones get 0), H the L-BFGS inverse-Hessian estimate.
    private func twoLoop(_ gradient: [Double], free: [Bool], steps: [[Double]], changes: [[Double]], curvatures: [Double]) -> [Double] {
        var q = gradient.indices.map { free[$0] ? gradient[$0] : 0 }
        func dot(_ a: [Double], _ b: [Double]) -> Double {
            var total = 0.0
            for i in a.indices where free[i] { total += a[i] * b[i] }
            return total
        }
        var alphas = [Double](repeating: 0, count: steps.count)
        for k in steps.indices.reversed() {
            alphas[k] = dot(steps[k], q) / curvatures[k]
            for i in q.indices where free[i] { q[i] -= alphas[k] * changes[k][i] }
        }
        if let last = steps.indices.last {
            let scale = curvatures[last] / max(dot(changes[last], changes[last]), 1e-300)
            for i in q.indices { q[i] *= scale }
        }
        for k in steps.indices {
            let beta = dot(changes[k], q) / curvatures[k]
            for i in q.indices where free[i] { q[i] += (alphas[k] - beta) * steps[k][i] }
        }
        return q.map { -$0 }
    }
}
