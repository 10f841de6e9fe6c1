<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr">
<context>
    <name>OAIP</name>
    <message>
        <source>Detect changes (heterogeneous pair, OAIP)</source>
        <translation>Détecter les changements (paire hétérogène, OAIP)</translation>
    </message>
    <message>
        <source>MODE must be one of {modes}, not {mode!r}.</source>
        <translation>MODE doit être l&apos;un de {modes}, pas {mode!r}.</translation>
    </message>
</context>
</TS>
