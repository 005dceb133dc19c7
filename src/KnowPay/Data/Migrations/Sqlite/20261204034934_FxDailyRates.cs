using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class FxDailyRates : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "fx_daily_rates",
                columns: table => new
                {
                    merchant_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    source = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    @base = table.Column<string>(name: "base", type: "TEXT", maxLength: 200, nullable: false),
                    quote = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    rate = table.Column<decimal>(type: "TEXT", precision: 28, scale: 12, nullable: false),
                    as_of = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_fx_daily_rates", x => new { x.merchant_id, x.source, x.day, x.@base, x.quote });
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "fx_daily_rates");
        }
    }
}
