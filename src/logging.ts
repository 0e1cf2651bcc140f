/** Structured logging: one JSON object per line (or a readable form for people at a terminal). */
import { Layer, Logger, LogLevel as EffectLogLevel } from "effect"
import type { LogFormat, LogLevel } from "./config.ts"

const levels: Record<LogLevel, EffectLogLevel.LogLevel> = {
  trace: EffectLogLevel.Trace,
  debug: EffectLogLevel.Debug,
  info: EffectLogLevel.Info,
  warning: EffectLogLevel.Warning,
  error: EffectLogLevel.Error,
}

export const loggingLayer = (format: LogFormat, level: LogLevel): Layer.Layer<never> =>
  Layer.merge(format === "json" ? Logger.json : Logger.pretty, Logger.minimumLogLevel(levels[level]))
