import Foundation
import Vocabulary

/// Escapes text for HTML element content and attribute values.
func escape(_ text: String) -> String {
    var result = ""
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.append(character)
        }
    }
    return result
}

/// A number as the dashboard shows it: 4 decimals, or a compact form for large or tiny values.
func format(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "–" }
    if value != 0 && (abs(value) >= 1e5 || abs(value) < 1e-3) { return String(format: "%.3g", value) }
    return String(format: "%.4f", value)
}

/// A line chart drawn as SVG by the server, with its data as a table behind a toggle (so every
/// chart can be read without seeing it). Each point is a `circle.point` carrying its series and
/// coordinates, one per epoch (or trial) plotted.
struct LineChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        /// Draw the points without joining them (e.g. every trial's value beside the best so far).
        var dotsOnly = false
    }

    var id: String
    var title: String
    var xLabel: String
    var series: [Series]
    /// A log₁₀ vertical axis (losses that differ by orders of magnitude).
    var logY = false
    /// A log₁₀ horizontal axis (a `log_uniform` parameter).
    var logX = false
    /// A vertical marker, e.g. the best epoch.
    var mark: (label: String, x: Double)?
    /// A horizontal reference line, e.g. the popularity baseline.
    var reference: (label: String, y: Double)?
    /// Names for x positions (a categorical parameter's choices), shown instead of numbers.
    var xNames: [String]?

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
    static let (width, height, left, right, top, bottom) = (640.0, 260.0, 56.0, 16.0, 16.0, 36.0)

    var html: String {
        let series =
            logX
            ? self.series.map { series in
                var copy = series
                copy.points = series.points.filter { $0.x > 0 }.map { (log10($0.x), $0.y) }
                return copy
            } : self.series
        let finite = series.flatMap(\.points).filter { $0.y.isFinite && (!logY || $0.y > 0) }
        guard !finite.isEmpty else {
            return
                "<figure class=\"chart\" id=\"\(escape(id))\"><figcaption>\(escape(title))</figcaption><p class=\"empty\">No data yet.</p></figure>"
        }
        let transform: (Double) -> Double = logY ? { log10($0) } : { $0 }
        var ys = finite.map { transform($0.y) }
        if let reference, !logY || reference.y > 0 { ys.append(transform(reference.y)) }
        var (xLow, xHigh) = (finite.map(\.x).min()!, finite.map(\.x).max()!)
        var (yLow, yHigh) = (ys.min()!, ys.max()!)
        if xHigh == xLow { (xLow, xHigh) = (xLow - 1, xHigh + 1) }
        if yHigh == yLow { (yLow, yHigh) = (yLow - 0.5, yHigh + 0.5) }
        let pad = (yHigh - yLow) * 0.05
        (yLow, yHigh) = (yLow - pad, yHigh + pad)
        let plotWidth = Self.width - Self.left - Self.right, plotHeight = Self.height - Self.top - Self.bottom
        func px(_ x: Double) -> String { String(format: "%.1f", Self.left + (x - xLow) / (xHigh - xLow) * plotWidth) }
        func py(_ y: Double) -> String { String(format: "%.1f", Self.top + (1 - (transform(y) - yLow) / (yHigh - yLow)) * plotHeight) }
        var svg = "<svg viewBox=\"0 0 \(Int(Self.width)) \(Int(Self.height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        svg += "<rect class=\"plot\" x=\"\(Self.left)\" y=\"\(Self.top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\"/>"
        for step in 0...4 {
            let value = yLow + (yHigh - yLow) * Double(step) / 4
            let y = Self.top + (1 - Double(step) / 4) * plotHeight
            let label = logY ? format(pow(10, value)) : format(value)
            svg += "<line class=\"grid\" x1=\"\(Self.left)\" x2=\"\(Self.width - Self.right)\" y1=\"\(y)\" y2=\"\(y)\"/>"
            svg += "<text class=\"tick\" x=\"\(Self.left - 4)\" y=\"\(y + 4)\" text-anchor=\"end\">\(label)</text>"
        }
        // Epochs and trial counts are whole numbers: label only whole ticks.
        let whole = !logX && finite.allSatisfy { $0.x == $0.x.rounded() }
        var xTicks = (0...4).map { xLow + (xHigh - xLow) * Double($0) / 4 }
        if whole {
            let step = max(1, ((xHigh - xLow) / 5).rounded(.up))
            xTicks = stride(from: xLow.rounded(.up), through: xHigh, by: step).map { $0 }
        }
        for value in xTicks {
            let x = Self.left + (value - xLow) / (xHigh - xLow) * plotWidth
            let label =
                xNames.flatMap { names in Int(exactly: value).flatMap { names.indices.contains($0) ? escape(names[$0]) : nil } }
                ?? (logX ? format(pow(10, value)) : value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value))
            svg +=
                "<text class=\"tick\" x=\"\(String(format: "%.1f", x))\" y=\"\(Self.height - Self.bottom + 14)\" text-anchor=\"middle\">\(label)</text>"
        }
        svg +=
            "<text class=\"axis\" x=\"\(Self.left + plotWidth / 2)\" y=\"\(Self.height - 4)\" text-anchor=\"middle\">\(escape(xLabel))\(logX ? " (log scale)" : "")</text>"
        if let reference, !logY || reference.y > 0 {
            svg +=
                "<line class=\"reference\" x1=\"\(Self.left)\" x2=\"\(Self.width - Self.right)\" y1=\"\(py(reference.y))\" y2=\"\(py(reference.y))\"><title>\(escape(reference.label)) \(format(reference.y))</title></line>"
        }
        if let mark {
            svg +=
                "<line class=\"mark\" x1=\"\(px(mark.x))\" x2=\"\(px(mark.x))\" y1=\"\(Self.top)\" y2=\"\(Self.height - Self.bottom)\"><title>\(escape(mark.label))</title></line>"
        }
        for (index, series) in series.enumerated() {
            let color = Self.colors[index % Self.colors.count]
            let points = series.points.filter { $0.y.isFinite && (!logY || $0.y > 0) }
            if !series.dotsOnly && points.count > 1 {
                svg +=
                    "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\""
                    + points.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ") + "\"/>"
            }
            for point in points {
                svg +=
                    "<circle class=\"point\" data-series=\"\(escape(series.name))\" data-x=\"\(point.x)\" data-y=\"\(point.y)\" cx=\"\(px(point.x))\" cy=\"\(py(point.y))\" r=\"3\" fill=\"\(color)\"><title>\(escape(series.name)) \(format(point.x)): \(format(point.y))</title></circle>"
            }
        }
        svg += "</svg>"
        var legend = "<ul class=\"legend\">"
        for (index, series) in series.enumerated() {
            // An SVG swatch: the page's content security policy allows no inline style.
            legend +=
                "<li><svg class=\"swatch\" viewBox=\"0 0 12 4\"><rect width=\"12\" height=\"4\" fill=\"\(Self.colors[index % Self.colors.count])\"/></svg>\(escape(series.name))</li>"
        }
        if let reference { legend += "<li><span class=\"swatch reference\"></span>\(escape(reference.label))</li>" }
        if let mark { legend += "<li><span class=\"swatch mark\"></span>\(escape(mark.label))</li>" }
        legend += "</ul>"
        return
            "<figure class=\"chart\" id=\"\(escape(id))\"><figcaption>\(escape(title))\(logY ? " (log scale)" : "")</figcaption>\(svg)\(legend)\(table)</figure>"
    }

    /// The chart's data as a table, behind a toggle.
    var table: String {
        let xs = Array(Set(series.flatMap { $0.points.map(\.x) })).sorted()
        var html = "<details><summary>Table</summary><table class=\"data\"><thead><tr><th>\(escape(xLabel))</th>"
        for series in series { html += "<th>\(escape(series.name))</th>" }
        html += "</tr></thead><tbody>"
        for x in xs {
            let name = xNames.flatMap { names in Int(exactly: x).flatMap { names.indices.contains($0) ? escape(names[$0]) : nil } }
            html += "<tr><td>\(name ?? (x == x.rounded() ? String(Int(x)) : format(x)))</td>"
            for series in series { html += "<td>\(format(series.points.first { $0.x == x }?.y))</td>" }
            html += "</tr>"
        }
        return html + "</tbody></table></details>"
    }
}

/// Parallel coordinates: one vertical axis per parameter (categorical axes spread their choices,
/// `log_uniform` ones are logarithmic) and one for the metric; each trial one unbroken line
/// coloured by its metric (light to dark is worse to better). A parameter a trial does not have
/// active sits at its own place at the foot of the axis, marked "inactive".
struct ParallelCoordinates {
    struct Axis {
        var name: String
        /// Choices for a categorical axis, in the sweep file's order; nil for a number.
        var choices: [ConfigValue]?
        var log = false
    }

    var id: String
    var title: String
    var axes: [Axis]
    /// Per trial: its id and each axis's value, nil where inactive.
    var rows: [(id: String, values: [ConfigValue?])]
    /// The metric on the last axis, whose goal says which end is darker (better).
    var objective: Objective

    static let inactiveLabel = "inactive"

    /// Where each row meets each axis, in [0, 1] from the foot; every row meets every axis.
    /// A choice is matched by value (`1` is the file's `1.0`), a choice no file lists is added
    /// after the listed ones, and an axis on which some row is inactive keeps 0 for them.
    func positions() -> [[Double]] {
        var columns: [[Double]] = []
        for (index, axis) in axes.enumerated() {
            let values = rows.map { $0.values[index] }
            let low = activeFloor(of: index)
            func spread(_ fraction: Double) -> Double { low + fraction * (1 - low) }
            if axis.choices != nil {
                let choices = labels(of: index)
                columns.append(
                    values.map { value in
                        guard let value, let at = choices.firstIndex(where: { $0.sameValue(as: value) }) else { return 0 }
                        return spread(choices.count == 1 ? 0.5 : Double(at) / Double(choices.count - 1))
                    })
            } else {
                let numbers = values.map { value -> Double? in
                    guard let x = value?.number, x.isFinite, !axis.log || x > 0 else { return nil }
                    return axis.log ? log10(x) : x
                }
                let present = numbers.compactMap { $0 }
                let (least, most) = (present.min() ?? 0, present.max() ?? 1)
                columns.append(
                    numbers.map { number in
                        guard let number else { return 0 }
                        return spread(most == least ? 0.5 : (number - least) / (most - least))
                    })
            }
        }
        return rows.indices.map { row in columns.map { $0[row] } }
    }

    /// Where an axis's active values begin: 0, or 0.15 when some row is inactive on it (the
    /// inactive place is 0, a step below them).
    func activeFloor(of index: Int) -> Double { rows.contains { $0.values[index] == nil } ? 0.15 : 0 }

    /// The choices an axis labels: the file's, then any other a row holds.
    func labels(of index: Int) -> [ConfigValue] {
        guard var choices = axes[index].choices else { return [] }
        for row in rows {
            if let value = row.values[index], !choices.contains(where: { $0.sameValue(as: value) }) { choices.append(value) }
        }
        return choices
    }

    var html: String {
        let width = 900.0, height = 300.0, top = 24.0, bottom = 28.0, side = 70.0
        guard axes.count >= 2, !rows.isEmpty else {
            return
                "<figure class=\"chart\" id=\"\(escape(id))\"><figcaption>\(escape(title))</figcaption><p class=\"empty\">No completed trials yet.</p></figure>"
        }
        let step = (width - 2 * side) / Double(axes.count - 1)
        func y(_ fraction: Double) -> Double { top + (1 - fraction) * (height - top - bottom) }
        let metricIndex = axes.count - 1
        // Scores, so that a minimized metric's lowest value is the darkest.
        func metric(_ row: Int) -> Double? { rows[row].values[metricIndex]?.number.map(objective.score) }
        let metricValues = rows.indices.compactMap(metric)
        let (worst, best) = (metricValues.min() ?? 0, metricValues.max() ?? 1)
        let positions = positions()
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        // Worse trials first, so the best are drawn on top.
        for rowIndex in rows.indices.sorted(by: { (metric($0) ?? -.infinity) < (metric($1) ?? -.infinity) }) {
            var fraction = 0.5
            if let v = metric(rowIndex), best > worst { fraction = (v - worst) / (best - worst) }
            let shade = String(format: "rgb(%d,%d,%d)", Int(200 - 170 * fraction), Int(215 - 120 * fraction), Int(235 - 50 * fraction))
            let points = positions[rowIndex].enumerated().map {
                String(format: "%.1f,%.1f", side + Double($0.offset) * step, y($0.element))
            }
            svg +=
                "<polyline class=\"trial-line\" data-trial=\"\(escape(rows[rowIndex].id))\" fill=\"none\" stroke=\"\(shade)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>"
        }
        for (index, axis) in axes.enumerated() {
            let x = side + Double(index) * step
            svg += "<line class=\"axis-line\" x1=\"\(x)\" x2=\"\(x)\" y1=\"\(top)\" y2=\"\(height - bottom)\"/>"
            svg +=
                "<text class=\"axis\" x=\"\(x)\" y=\"\(top - 8)\" text-anchor=\"\(index == axes.count - 1 ? "end" : index == 0 ? "start" : "middle")\">\(escape(axis.name))\(axis.log ? " (log)" : "")</text>"
            let low = activeFloor(of: index), hasInactive = low > 0
            if hasInactive { svg += "<text class=\"tick inactive\" x=\"\(x + 4)\" y=\"\(y(0) + 4)\">\(Self.inactiveLabel)</text>" }
            if axis.choices != nil {
                let choices = labels(of: index)
                for (at, choice) in choices.enumerated() {
                    let position = low + (choices.count == 1 ? 0.5 : Double(at) / Double(choices.count - 1)) * (1 - low)
                    svg += "<text class=\"tick\" x=\"\(x + 4)\" y=\"\(y(position) + 4)\">\(escape(choice.description))</text>"
                }
            } else {
                let numbers = rows.compactMap { $0.values[index]?.number }
                if let least = numbers.min(), let most = numbers.max() {
                    svg += "<text class=\"tick\" x=\"\(x + 4)\" y=\"\(y(low) + (hasInactive ? -6 : 14))\">\(format(least))</text>"
                    svg += "<text class=\"tick\" x=\"\(x + 4)\" y=\"\(top + 12)\">\(format(most))</text>"
                }
            }
        }
        svg += "</svg>"
        var table =
            "<details><summary>Table</summary><table class=\"data\"><thead><tr><th>trial</th>"
            + axes.map { "<th>\(escape($0.name))</th>" }.joined() + "</tr></thead><tbody>"
        for row in rows {
            table +=
                "<tr><td>\(escape(String(row.id.prefix(8))))</td>"
                + row.values.map { value -> String in
                    switch value {
                    case .double(let x)?: "<td>\(format(x))</td>"
                    case let value?: "<td>\(escape(value.description))</td>"
                    case nil: "<td>–</td>"
                    }
                }.joined() + "</tr>"
        }
        table += "</tbody></table></details>"
        return "<figure class=\"chart wide\" id=\"\(escape(id))\"><figcaption>\(escape(title))</figcaption>\(svg)\(table)</figure>"
    }
}

/// Horizontal bars, e.g. parameter importances.
struct BarChart {
    var id: String
    var title: String
    var bars: [(label: String, value: Double)]

    var html: String {
        let width = 640.0, row = 24.0, labelWidth = 160.0
        let height = row * Double(max(bars.count, 1)) + 8
        let top = bars.map(\.value).max() ?? 1
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        for (index, bar) in bars.enumerated() {
            let y = 4 + Double(index) * row
            let length = top > 0 ? (width - labelWidth - 60) * bar.value / top : 0
            svg += "<text class=\"tick\" x=\"\(labelWidth - 6)\" y=\"\(y + 15)\" text-anchor=\"end\">\(escape(bar.label))</text>"
            svg +=
                "<rect class=\"bar\" data-label=\"\(escape(bar.label))\" x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", length))\" height=\"\(row - 8)\" fill=\"#1f77b4\"/>"
            svg +=
                "<text class=\"tick\" x=\"\(String(format: "%.1f", labelWidth + length + 6))\" y=\"\(y + 15)\">\(String(format: "%.3f", bar.value))</text>"
        }
        svg += "</svg>"
        let table =
            "<details><summary>Table</summary><table class=\"data\"><tbody>"
            + bars.map { "<tr><th>\(escape($0.label))</th><td>\(String(format: "%.4f", $0.value))</td></tr>" }.joined()
            + "</tbody></table></details>"
        return "<figure class=\"chart\" id=\"\(escape(id))\"><figcaption>\(escape(title))</figcaption>\(svg)\(table)</figure>"
    }
}

/// A scatter of trials (or configs) on two objectives, drawn as SVG by the server: each point a
/// link to its trial, coloured by its non-dominated front (front 1 strongest, infeasible grey),
/// with its 95% CI as error bars when it stands for a config over seeds; the data again as a
/// table behind a toggle.
struct ScatterChart {
    struct Point {
        var x: Double
        var y: Double
        /// Half-widths of the 95% CIs (a config over seeds), else nil.
        var xError: Double?
        var yError: Double?
        /// 1, 2, … its front; nil when it is infeasible.
        var front: Int?
        var link: String
        var label: String
    }

    var id: String
    var title: String
    var xLabel: String
    var yLabel: String
    var points: [Point]

    static let frontColors = ["#d62728", "#1f77b4", "#7fb2dd"]
    static let infeasibleColor = "#b8b8b8"

    static func color(front: Int?) -> String {
        front.map { frontColors[min($0, frontColors.count) - 1] } ?? infeasibleColor
    }

    var html: String {
        guard !points.isEmpty else {
            return
                "<figure class=\"chart\" id=\"\(escape(id))\"><figcaption>\(escape(title))</figcaption><p class=\"empty\">No completed trial yet.</p></figure>"
        }
        let (width, height, left, right, top, bottom) = (LineChart.width, 360.0, LineChart.left, LineChart.right, LineChart.top, 40.0)
        let xs = points.flatMap { [$0.x - ($0.xError ?? 0), $0.x + ($0.xError ?? 0)] }
        let ys = points.flatMap { [$0.y - ($0.yError ?? 0), $0.y + ($0.yError ?? 0)] }
        var (xLow, xHigh, yLow, yHigh) = (xs.min()!, xs.max()!, ys.min()!, ys.max()!)
        if xHigh == xLow { (xLow, xHigh) = (xLow - 0.5, xHigh + 0.5) }
        if yHigh == yLow { (yLow, yHigh) = (yLow - 0.5, yHigh + 0.5) }
        let (xPad, yPad) = ((xHigh - xLow) * 0.05, (yHigh - yLow) * 0.05)
        (xLow, xHigh, yLow, yHigh) = (xLow - xPad, xHigh + xPad, yLow - yPad, yHigh + yPad)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func px(_ x: Double) -> String { String(format: "%.1f", left + (x - xLow) / (xHigh - xLow) * plotWidth) }
        func py(_ y: Double) -> String { String(format: "%.1f", top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight) }
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        svg += "<rect class=\"plot\" x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\"/>"
        for step in 0...4 {
            let fraction = Double(step) / 4
            let y = top + (1 - fraction) * plotHeight, x = left + fraction * plotWidth
            svg += "<line class=\"grid\" x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y)\" y2=\"\(y)\"/>"
            svg +=
                "<text class=\"tick\" x=\"\(left - 4)\" y=\"\(y + 4)\" text-anchor=\"end\">\(format(yLow + (yHigh - yLow) * fraction))</text>"
            svg +=
                "<text class=\"tick\" x=\"\(String(format: "%.1f", x))\" y=\"\(height - bottom + 14)\" text-anchor=\"middle\">\(format(xLow + (xHigh - xLow) * fraction))</text>"
        }
        svg += "<text class=\"axis\" x=\"\(left + plotWidth / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        svg +=
            "<text class=\"axis\" x=\"12\" y=\"\(top + plotHeight / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(top + plotHeight / 2))\">\(escape(yLabel))</text>"
        // Worse fronts first, so front 1 is drawn on top.
        for point in points.sorted(by: { ($0.front ?? .max) > ($1.front ?? .max) }) {
            let color = Self.color(front: point.front)
            svg += "<a class=\"point-link\" href=\"\(escape(point.link))\">"
            if let error = point.xError {
                svg +=
                    "<line class=\"error-bar\" stroke=\"\(color)\" x1=\"\(px(point.x - error))\" x2=\"\(px(point.x + error))\" y1=\"\(py(point.y))\" y2=\"\(py(point.y))\"/>"
            }
            if let error = point.yError {
                svg +=
                    "<line class=\"error-bar\" stroke=\"\(color)\" x1=\"\(px(point.x))\" x2=\"\(px(point.x))\" y1=\"\(py(point.y - error))\" y2=\"\(py(point.y + error))\"/>"
            }
            svg +=
                "<circle class=\"point\" data-front=\"\(point.front.map(String.init) ?? "infeasible")\" data-x=\"\(point.x)\" data-y=\"\(point.y)\" cx=\"\(px(point.x))\" cy=\"\(py(point.y))\" r=\"4\" fill=\"\(color)\"><title>\(escape(point.label)): \(format(point.x)), \(format(point.y))</title></circle></a>"
        }
        svg += "</svg>"
        var legend = "<ul class=\"legend\">"
        let fronts = Set(points.compactMap(\.front))
        for (index, name) in ["front 1", "front 2", "fronts 3+"].enumerated() where fronts.contains(where: { min($0, 3) == index + 1 }) {
            legend +=
                "<li><svg class=\"swatch\" viewBox=\"0 0 12 4\"><rect width=\"12\" height=\"4\" fill=\"\(Self.frontColors[index])\"/></svg>\(name)</li>"
        }
        if points.contains(where: { $0.front == nil }) {
            legend +=
                "<li><svg class=\"swatch\" viewBox=\"0 0 12 4\"><rect width=\"12\" height=\"4\" fill=\"\(Self.infeasibleColor)\"/></svg>infeasible</li>"
        }
        legend += "</ul>"
        var table = "<details><summary>Table</summary><table class=\"data\"><thead><tr><th></th><th>front</th>"
        table += "<th>\(escape(xLabel))</th><th>\(escape(yLabel))</th></tr></thead><tbody>"
        for point in points.sorted(by: { ($0.front ?? .max, -$0.x) < ($1.front ?? .max, -$1.x) }) {
            func cell(_ value: Double, _ error: Double?) -> String { format(value) + (error.map { " ± " + format($0) } ?? "") }
            table +=
                "<tr><td><a href=\"\(escape(point.link))\">\(escape(point.label))</a></td><td>\(point.front.map(String.init) ?? "infeasible")</td>"
                + "<td>\(cell(point.x, point.xError))</td><td>\(cell(point.y, point.yError))</td></tr>"
        }
        table += "</tbody></table></details>"
        return "<figure class=\"chart\" id=\"\(escape(id))\"><figcaption>\(escape(title))</figcaption>\(svg)\(legend)\(table)</figure>"
    }
}
