/**
 * Settings the notifier applies while running (PATCH /config): where messages go and how repeats
 * are folded. Channels (their connections and Telegram pollers) and the daily summary's schedule
 * are set up at start: changing them needs a restart.
 */
export const hotSettings: readonly string[] = ['routes', 'dedupWindowMs'];
