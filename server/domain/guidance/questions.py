"""Questions a PK may ask about each need area during a session, to judge a
goal's progress: one open, one closed, one reflective (the three kinds of
motivational interviewing). Suggestions, not a script; a need area the office
added has none."""

from __future__ import annotations

QUESTIONS: dict[str, tuple[str, str, str]] = {
    "pekerjaan": ("Bagaimana usaha Anda mencari atau menjalani pekerjaan sejak kita bertemu?",
                  "Apakah Anda sudah melamar atau mulai bekerja bulan ini?",
                  "Kedengarannya pekerjaan tetap penting bagi Anda karena …"),
    "keuangan": ("Bagaimana Anda mengatur uang untuk kebutuhan sehari-hari?",
                 "Apakah ada utang yang belum terbayar bulan ini?",
                 "Sepertinya Anda ingin lebih tenang soal uang …"),
    "tempat tinggal": ("Bagaimana keadaan tempat tinggal Anda sekarang?",
                       "Apakah Anda masih tinggal di alamat yang sama?",
                       "Kedengarannya tempat tinggal yang tetap membuat Anda lebih tenang …"),
    "keluarga": ("Bagaimana hubungan Anda dengan keluarga akhir-akhir ini?",
                 "Apakah penjamin Anda tahu jadwal wajib lapor Anda?",
                 "Sepertinya dukungan keluarga berarti banyak bagi Anda …"),
    "pergaulan": ("Dengan siapa Anda biasanya menghabiskan waktu luang?",
                  "Apakah Anda masih bertemu teman lama yang terlibat masalah hukum?",
                  "Kedengarannya Anda sedang memilih teman dengan lebih hati-hati …"),
    "NAPZA": ("Apa yang membantu Anda menjauhi narkoba atau alkohol minggu ini?",
              "Apakah Anda memakai narkoba atau alkohol sejak pertemuan terakhir?",
              "Sepertinya Anda sudah berusaha keras untuk tetap bersih …"),
    "sikap dan perilaku": ("Apa yang Anda lakukan ketika sedang marah atau kecewa?",
                           "Apakah ada kejadian yang membuat Anda hampir bermasalah lagi?",
                           "Kedengarannya Anda mulai mengenali apa yang memicu emosi Anda …"),
    "pendidikan": ("Bagaimana rencana sekolah atau pelatihan Anda berjalan?",
                   "Apakah Anda sudah mendaftar kejar paket atau pelatihan?",
                   "Sepertinya menambah keterampilan penting untuk masa depan Anda …"),
    "kesehatan": ("Bagaimana kesehatan Anda akhir-akhir ini?",
                  "Apakah Anda sudah memeriksakan diri ke Puskesmas?",
                  "Kedengarannya kesehatan Anda memengaruhi kegiatan sehari-hari …"),
}


def questions_for(need: str) -> tuple[str, str, str] | None:
    folded = need.casefold()
    return next((q for n, q in QUESTIONS.items() if n.casefold() == folded), None)
