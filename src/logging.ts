/** Structured logging: one JSON object per line (or a readable form for people at a terminal). */
import { Layer, Logger, LogLevel } from "effect"

export type LogFormat = "json" | "pretty"
export type LevelName = "trace" | "debug" | "info" | "warning" | "error"

const levels: Record<LevelName, LogLevel.LogLevel> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
}

export const loggingLayer = (format: LogFormat, level: LevelName): Layer.Layer<never> =>
  Layer.merge(format === "json" ? Logger.json : Logger.pretty, Logger.minimumLogLevel(levels[level]))
