#!/usr/bin/env bash
# How the built-in prompts and the default music on hold were made (run by hand, the output
# is committed): speech synthesised with espeak-ng (Debian package espeak-ng), music
# synthesised with sox; both converted to what the PBX plays: 8 kHz mono 8-bit A-law WAV,
# peak-normalised to -3 dBFS.
set -euo pipefail
cd "$(dirname "$0")"
say() { # lang voice name text
  mkdir -p "$1"
  espeak-ng -v "$2" -s 150 -w /tmp/prompt-raw.wav "$4"
  sox /tmp/prompt-raw.wav -r 8000 -c 1 -e a-law "$1/$3.wav" norm -3 pad 0.1 0.2
}
for d in 0 1 2 3 4 5 6 7 8 9; do
  say en en-us "digit-$d" "$d"
done
ru_digits=(ноль один два три четыре пять шесть семь восемь девять)
for d in 0 1 2 3 4 5 6 7 8 9; do
  say ru ru "digit-$d" "${ru_digits[$d]}"
done
say en en-us welcome "Hello, thank you for calling. Please stay on the line."
say ru ru welcome "Здравствуйте, спасибо за звонок. Пожалуйста, оставайтесь на линии."
say en en-us please-hold "Please hold."
say ru ru please-hold "Пожалуйста, ожидайте."
say en en-us not-available "The number you are calling is not available."
say ru ru not-available "Вызываемый номер недоступен."
say en en-us queue-position "You are number"
say ru ru queue-position "Ваш номер в очереди"
say en en-us queue-position-end "in the queue."
say ru ru queue-position-end "."
say en en-us queue-wait "Your estimated waiting time is about"
say ru ru queue-wait "Примерное время ожидания"
say en en-us minutes "minutes."
say ru ru minutes "минут."
say en en-us closed "We are closed now. Please call back during working hours."
say ru ru closed "Вы звоните в нерабочее время. Пожалуйста, перезвоните в рабочие часы."
say en en-us ivr-menu "For sales press one. For support press two. Or dial an extension number."
say ru ru ivr-menu "Для связи с отделом продаж нажмите один. Для связи с техподдержкой нажмите два. Или наберите добавочный номер."
say en en-us invalid "Sorry, that is not a valid choice."
say ru ru invalid "Неверный выбор."
say en en-us goodbye "Goodbye."
say ru ru goodbye "До свидания."
say en en-us callback-offer "To hang up and keep your place in the queue, press star. We will call you back."
say ru ru callback-offer "Чтобы положить трубку и сохранить место в очереди, нажмите звёздочку. Мы вам перезвоним."
say en en-us callback-registered "Thank you. We will call you back."
say ru ru callback-registered "Спасибо. Мы вам перезвоним."
say en en-us transfer "Please hold while your call is transferred."
say ru ru transfer "Пожалуйста, подождите, соединяю."
# Music on hold: a slow arpeggio on four chords, with a little echo, 32 seconds.
sox -n -r 8000 -c 1 /tmp/moh-a.wav synth 0.5 pluck C4 synth 0.5 pluck E4 synth 0.5 pluck G4 synth 0.5 pluck C5 repeat 3
sox -n -r 8000 -c 1 /tmp/moh-b.wav synth 0.5 pluck A3 synth 0.5 pluck C4 synth 0.5 pluck E4 synth 0.5 pluck A4 repeat 3
sox -n -r 8000 -c 1 /tmp/moh-c.wav synth 0.5 pluck F3 synth 0.5 pluck A3 synth 0.5 pluck C4 synth 0.5 pluck F4 repeat 3
sox -n -r 8000 -c 1 /tmp/moh-d.wav synth 0.5 pluck G3 synth 0.5 pluck B3 synth 0.5 pluck D4 synth 0.5 pluck G4 repeat 3
sox /tmp/moh-a.wav /tmp/moh-b.wav /tmp/moh-c.wav /tmp/moh-d.wav /tmp/moh-a.wav /tmp/moh-b.wav /tmp/moh-c.wav /tmp/moh-d.wav \
  -r 8000 -c 1 -e a-law music.wav echo 0.8 0.7 60 0.25 norm -3
